"""The NATS connector: publish each action to JetStream, ``delivered`` on the stream's PubAck.

The subject is a template (``"decisions.{{ action }}"``); a JetStream stream must capture it
(with ``stream`` set, that very stream). Every message carries ``Nats-Msg-Id`` = the delivery's
id, so JetStream itself drops a resend within the stream's duplicate window (two minutes by
default): a retry after a lost PubAck stores nothing twice. The body and the other headers are
those of :mod:`doorstep.connectors.bus`.

nats-py is asyncio: the connector runs one event loop in a thread of its own, with one
connection that every worker thread publishes through; a broken connection is replaced on the
next send, and :meth:`NATSConnector.close` closes it and stops the loop.
"""

from __future__ import annotations

import asyncio
import builtins
import concurrent.futures
import contextlib
import threading
from collections.abc import Mapping
from typing import ClassVar

import nats
import nats.errors
import nats.js.errors
from nats.aio.client import Client
from nats.js.api import PubAck
from pydantic import BaseModel

from doorstep.connectors.base import ConnectorContext, Message, SendResult
from doorstep.connectors.bus import CONTENT_TYPE, BusConnector, describe
from doorstep.core.spec.buses import NATSConnectorSpec, nats_subject_problem
from doorstep.errors import AddressNotAllowedError

__all__ = ["NATSConnector"]


async def _quiet(error: Exception) -> None:
    """nats-py's error callback: a failure already reaches the send that met it."""


class NATSConnector(BusConnector[NATSConnectorSpec]):
    """Publishes each action to JetStream on the rendered ``subject``."""

    type: ClassVar[str] = "nats"
    spec_model: ClassVar[builtins.type[BaseModel]] = NATSConnectorSpec
    ports: ClassVar[Mapping[str, int]] = {"nats": 4222, "tls": 4222}
    destination: ClassVar[str] = "subject"
    broker: ClassVar[str] = "NATS"
    _destination_problem = staticmethod(nats_subject_problem)

    def __init__(self, spec: NATSConnectorSpec, context: ConnectorContext) -> None:
        super().__init__(spec, context)
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._client: Client | None = None
        self._connecting: asyncio.Lock | None = None

    def send(self, delivery: Message) -> SendResult:
        """Publish once and wait for JetStream's PubAck."""
        prepared = self._prepare(delivery)
        if isinstance(prepared, SendResult):
            return prepared
        message, timeout = prepared
        deadline = delivery.deadline
        headers = {**message.headers, "Nats-Msg-Id": delivery.id, "Content-Type": CONTENT_TYPE}
        future = asyncio.run_coroutine_threadsafe(
            self._publish(message.destination, message.body, headers, timeout), self._running()
        )
        cancel = (
            deadline.on_cancel(lambda: _cancel(future)) if deadline else contextlib.nullcontext()
        )
        where = f"subject {message.destination!r}"
        try:
            with cancel:
                ack: PubAck = future.result(timeout=timeout + 1)
        except (concurrent.futures.CancelledError, concurrent.futures.TimeoutError):
            future.cancel()
            if deadline is not None and deadline.expired:
                return deadline.give_up("waiting for JetStream's PubAck")
            return SendResult("retry", f"no PubAck from JetStream within {timeout:.3g} s ({where})")
        except Exception as error:
            if deadline is not None and deadline.expired:
                return deadline.give_up("waiting for JetStream's PubAck")
            return self._failure(error, where)
        stored = f"stream {ack.stream!r}, sequence {ack.seq}"
        if ack.duplicate:
            return SendResult("delivered", f"JetStream had it already (a resend): {stored}")
        return SendResult("delivered", f"stored by JetStream: {stored}, {where}")

    def close(self) -> None:
        """Close the connection and stop the event loop."""
        with self._lock:
            loop, thread, self._loop, self._thread = self._loop, self._thread, None, None
        if loop is None or thread is None:
            return
        with contextlib.suppress(Exception):
            asyncio.run_coroutine_threadsafe(self._disconnect(), loop).result(timeout=5)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=5)
        if not thread.is_alive():
            loop.close()

    def _running(self) -> asyncio.AbstractEventLoop:
        with self._lock:
            if self._loop is None:
                loop = asyncio.new_event_loop()
                thread = threading.Thread(
                    target=loop.run_forever, name=f"doorstep-nats-{self.name}", daemon=True
                )
                thread.start()
                self._loop, self._thread = loop, thread
            return self._loop

    async def _publish(
        self, subject: str, body: bytes, headers: dict[str, str], timeout: float
    ) -> PubAck:
        client = await self._connected(timeout)
        stream = self._spec.stream
        ack = await client.jetstream(timeout=timeout).publish(
            subject, body, timeout=timeout, stream=stream, headers=headers
        )
        return ack

    async def _connected(self, timeout: float) -> Client:
        if self._connecting is None:
            self._connecting = asyncio.Lock()
        async with self._connecting:
            client = self._client
            if client is not None and client.is_connected:
                return client
            if client is not None:
                await _close_quietly(client)
            self._client = None
            await asyncio.get_running_loop().run_in_executor(None, self._guard.check)
            client = await nats.connect(
                self._spec.url,
                connect_timeout=timeout,
                allow_reconnect=False,
                max_reconnect_attempts=1,  # 0 would be "for ever": two quick tries
                reconnect_time_wait=0.1,
                error_cb=_quiet,
            )
            self._client = client
            return client

    async def _disconnect(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            await _close_quietly(client)

    def _failure(self, error: Exception, where: str) -> SendResult:
        if isinstance(error, AddressNotAllowedError):  # only a change of the spec can help
            return SendResult("failed", self._redact(error.message))
        if isinstance(error, nats.js.errors.NoStreamResponseError):
            return SendResult(
                "failed", self._redact(f"no JetStream stream captures {where}: create one")
            )
        if isinstance(error, nats.js.errors.APIError) and error.code == 400:
            return SendResult(
                "failed", self._redact(f"JetStream refused {where}: {describe(error)}")
            )
        return SendResult("retry", self._redact(f"publishing to NATS failed: {describe(error)}"))


async def _close_quietly(client: Client) -> None:
    with contextlib.suppress(Exception):
        await client.close()


def _cancel(future: concurrent.futures.Future[PubAck]) -> None:
    future.cancel()
