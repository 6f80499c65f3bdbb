"""A NATS JetStream source: a durable pull consumer on a stream's subject, messages acknowledged
one by one after their decisions are committed.

The message id is the publisher's ``Nats-Msg-Id`` header when it sent one, else the message's
stream sequence; ``max_ack_pending`` of the consumer is the micro-batch size, so no more messages
than one batch are ever delivered unacknowledged. Dead letters are published to
``dead_letter.subject`` through JetStream (acknowledged by the stream that captures it), or
core NATS when no stream does. The client is asynchronous; this source runs it on an event loop
of its own, so the consumer calls it like the other, blocking, sources.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Sequence
from contextlib import AbstractContextManager
from typing import Any, TypeVar

from doorstep.core.spec.streams import DeadLetterSpec, NATSStreamSourceSpec
from doorstep.errors import ConnectorSpecError
from doorstep.streams.base import StreamMessage, bus_errors, host_of

__all__ = ["NATSStreamSource"]

T = TypeVar("T")


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
        self._timeout = nats.errors.TimeoutError
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

    @classmethod
    def from_spec(cls, name: str, spec: Any, *, dead_letter: Any, batch: int) -> NATSStreamSource:
        return cls(name, spec, dead_letter=dead_letter, batch=batch)

    def _run(self, work: Awaitable[T]) -> T:
        return self._loop.run_until_complete(work)

    def _guard(self, doing: str) -> AbstractContextManager[None]:
        return bus_errors(self.name, f"NATS at {host_of(self.spec.url)}", doing, self._errors)

    def fetch(self, limit: int, wait: float) -> list[StreamMessage]:
        with self._guard("read"):
            try:
                found = self._run(self._sub.fetch(limit, timeout=wait))
            except self._timeout:
                return []
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
