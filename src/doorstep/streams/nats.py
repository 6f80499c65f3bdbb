"""A NATS JetStream source: a durable pull consumer on a stream's subject, messages acknowledged
one by one after their decisions are committed.

The message id is the publisher's ``Nats-Msg-Id`` header when it sent one, else the message's
stream sequence; ``max_ack_pending`` of the consumer is the micro-batch size, so no more messages
than one batch are ever delivered unacknowledged. Dead letters are published to
``dead_letter.subject`` through JetStream (acknowledged by the stream that captures it), or
core NATS when no stream does. The client is asynchronous; this source runs it on an event loop
of its own, so the consumer calls it like the other, blocking, sources.

A fetch is a pull request of its own (``CONSUMER.MSG.NEXT``) answered on an inbox this source
subscribes to with a callback: first ``no_wait`` (what the stream holds now, at once), then, when
that found nothing, one that waits up to ``wait`` seconds and returns once messages come and
stop coming for :data:`LINGER`. Messages that arrive after a fetch returned (for a pull request
still open on the server) are kept for the next one; they count against ``max_ack_pending``
like the others, so the bound of in-flight messages holds. (nats-py's own ``fetch`` waits for
each message of a batch in turn, which cost more than the rest of the consumer's bus work.)
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Awaitable, Sequence
from contextlib import AbstractContextManager
from typing import Any, TypeVar

from doorstep.core.spec.streams import DeadLetterSpec, NATSStreamSourceSpec
from doorstep.errors import ConnectorSpecError
from doorstep.streams.base import StreamMessage, bus_errors, host_of

__all__ = ["NATSStreamSource"]

T = TypeVar("T")

LINGER = 0.01
"""Seconds a waiting fetch that has messages waits for one more."""


class NATSStreamSource:
    type = "nats"
    kind = "nats"
    spec_model = NATSStreamSourceSpec

    def __init__(
        self,
        name: str,
        spec: NATSStreamSourceSpec,
        *,
        dead_letter: DeadLetterSpec | None,
        batch: int,
    ) -> None:
        try:
            import nats
            import nats.errors
            import nats.js.errors
        except ImportError:
            raise ConnectorSpecError(
                name, "type", "the NATS client is not installed: pip install 'doorstep[streams]'"
            ) from None
        self.name, self.spec, self._dead = name, spec, dead_letter
        self._already_acked = nats.errors.MsgAlreadyAckdError
        self._no_stream = nats.js.errors.NoStreamResponseError
        self._errors: tuple[type[BaseException], ...] = (
            nats.errors.Error,
            nats.js.errors.Error,
            OSError,
            asyncio.TimeoutError,
        )
        self._loop = asyncio.new_event_loop()
        with self._guard("connect"):
            self._nc: Any = self._run(
                nats.connect(
                    spec.url, connect_timeout=5, max_reconnect_attempts=-1, allow_reconnect=True
                )
            )
            self._js: Any = self._nc.jetstream()
            from nats.js.api import AckPolicy, ConsumerConfig

            config = ConsumerConfig(
                durable_name=spec.durable,
                ack_policy=AckPolicy.EXPLICIT,
                ack_wait=spec.ack_wait,
                max_ack_pending=batch,
                filter_subject=spec.subject,
            )
            self._sub: Any = self._run(
                self._js.pull_subscribe(
                    spec.subject, durable=spec.durable, stream=spec.stream, config=config
                )
            )
            from nats.js.api import DEFAULT_PREFIX

            self._next = f"{DEFAULT_PREFIX}.CONSUMER.MSG.NEXT.{spec.stream}.{spec.durable}"
            self._inbox = self._nc.new_inbox()
            self._got: list[Any] = []
            """Messages delivered for pull requests and not yet handed out, in order."""
            self._requests = 0
            self._reply = ""
            """The reply subject of the pull request a fetch waits for."""
            self._want = 0
            self._ended = False
            """Whether the server ended that request (a status message: no messages,
            request timeout, conflict)."""
            self._error: Any = None
            self._arrived = asyncio.Event()
            self._run(self._nc.subscribe(f"{self._inbox}.*", cb=self._on_pulled))

    @classmethod
    def from_spec(cls, name: str, spec: Any, *, dead_letter: Any, batch: int) -> NATSStreamSource:
        return cls(name, spec, dead_letter=dead_letter, batch=batch)

    def _run(self, work: Awaitable[T]) -> T:
        return self._loop.run_until_complete(work)

    def _guard(self, doing: str) -> AbstractContextManager[None]:
        return bus_errors(self.name, f"NATS at {host_of(self.spec.url)}", doing, self._errors)

    def fetch(self, limit: int, wait: float) -> list[StreamMessage]:
        with self._guard("read"):
            found = self._run(self._pull(limit, wait))
        out: list[StreamMessage] = []
        for msg in found:
            meta = msg.metadata
            sequence = int(meta.sequence.stream)
            ident = (msg.headers or {}).get("Nats-Msg-Id") or str(sequence)
            out.append(
                StreamMessage(
                    body=msg.data,
                    message_id=ident,
                    partition=msg.subject,
                    sequence=sequence,
                    redelivered=meta.num_delivered > 1,
                    handle=msg,
                )
            )
        return out

    async def _pull(self, limit: int, wait: float) -> list[Any]:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + wait
        if len(self._got) < limit:  # what the stream holds now
            await self._request(limit - len(self._got), None, deadline)
        if not self._got and wait > 0:  # nothing: wait for the first, then linger
            await self._request(limit, wait, deadline)
            while 0 < len(self._got) < limit and not self._ended and loop.time() < deadline:
                seen = len(self._got)
                await asyncio.sleep(LINGER)
                if len(self._got) == seen:
                    break
        if self._error is not None:
            error, self._error = self._error, None
            raise error
        taken, self._got = self._got[:limit], self._got[limit:]
        return taken

    async def _request(self, want: int, expires: float | None, deadline: float) -> None:
        """Ask the consumer for ``want`` more messages: ``no_wait`` (then wait until they all
        came or the server ended the request), or waiting up to ``expires`` seconds (then wait
        for the first); never past ``deadline``."""
        self._requests += 1
        self._reply = f"{self._inbox}.{self._requests}"
        self._want = len(self._got) + (want if expires is None else 1)
        self._ended = False
        request: dict[str, Any] = {"batch": want}
        if expires is None:
            request["no_wait"] = True
        else:  # the server's expiry a little before ours, as nats-py does
            request["expires"] = max(1, int(expires * 1_000_000_000) - 100_000)
        self._arrived.clear()
        await self._nc.publish(self._next, json.dumps(request).encode(), self._reply)
        left = deadline - asyncio.get_running_loop().time()
        if left > 0 and not self._arrived.is_set():
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._arrived.wait(), left)

    async def _on_pulled(self, msg: Any) -> None:
        status = (msg.headers or {}).get("Status") if not msg.data else None
        if not status:
            self._got.append(msg)
            if len(self._got) >= self._want:
                self._arrived.set()
            return
        if msg.subject != self._reply or status == "100":  # an earlier request's; a heartbeat
            return
        if status not in ("404", "408", "409"):  # no messages, request timeout, conflict
            import nats.js.errors

            self._error = nats.js.errors.APIError.from_msg(msg)
        self._ended = True
        self._arrived.set()

    def ack(self, messages: Sequence[StreamMessage]) -> None:
        if not messages:
            return

        async def ack_all() -> None:
            for message in messages:
                try:
                    await message.handle.ack()
                except self._already_acked:  # a retry after a partial failure (a reconnection)
                    pass
            await self._nc.flush(timeout=5)

        with self._guard("acknowledge"):
            self._run(ack_all())

    def dead_letter(self, message: StreamMessage, body: bytes) -> None:
        if self._dead is None or self._dead.subject is None:
            return
        subject = self._dead.subject
        with self._guard("publish a dead letter"):
            try:
                self._run(self._js.publish(subject, body, timeout=5))
            except self._no_stream:  # no stream captures the subject: core NATS
                self._run(self._nc.publish(subject, body))
                self._run(self._nc.flush(timeout=5))

    def lag(self) -> int | None:
        with self._guard("read the consumer's lag"):
            info = self._run(self._sub.consumer_info())
        return int(info.num_pending or 0)

    def close(self) -> None:
        try:
            self._run(self._nc.close())
        except self._errors:
            pass
        finally:
            self._loop.close()
