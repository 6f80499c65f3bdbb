"""A RabbitMQ (AMQP 0-9-1) source: a queue consumed with manual acknowledgements, at most one
micro-batch unacknowledged (``basic_qos(prefetch_count=batch)``).

The message id is the AMQP ``message_id`` property when the publisher set one, else a SHA-256
of the body (so set it, or name a field with ``dedupe``, when two equal bodies are two events).
A delivery is acknowledged by its tag after its decisions are committed; when the consumer's
connection closes first, RabbitMQ delivers it again. A micro-batch that holds every delivery
still unacknowledged up to its highest tag (the usual case: the consumer acknowledges whole
batches in order) is acknowledged by one ``basic_ack(multiple=True)`` of that tag; the others
one tag at a time. Dead letters are published with publisher
confirms to ``dead_letter.queue`` (through the default exchange) or ``dead_letter.exchange``
with its ``routing_key``.
"""

from __future__ import annotations

import itertools
import time
from collections import deque
from collections.abc import Sequence
from contextlib import AbstractContextManager
from typing import Any

from doorstep.core.spec.streams import DeadLetterSpec, RabbitMQStreamSourceSpec
from doorstep.errors import ConnectorSpecError
from doorstep.streams.base import StreamMessage, body_id, bus_errors, host_of

__all__ = ["RabbitMQStreamSource"]

LINGER = 0.01
"""Seconds a batch waits for one more message once it has some."""


class RabbitMQStreamSource:
    type = "rabbitmq"
    kind = "rabbitmq"
    spec_model = RabbitMQStreamSourceSpec

    def __init__(
        self,
        name: str,
        spec: RabbitMQStreamSourceSpec,
        *,
        dead_letter: DeadLetterSpec | None,
        batch: int,
    ) -> None:
        try:
            import pika
            import pika.exceptions
        except ImportError:
            raise ConnectorSpecError(
                name, "type", "the AMQP client is not installed: pip install 'doorstep[streams]'"
            ) from None
        self.name, self.spec, self._dead = name, spec, dead_letter
        self._pika = pika
        self._errors: tuple[type[BaseException], ...] = (pika.exceptions.AMQPError, OSError)
        self._buffer: list[StreamMessage] = []
        self._unacked: deque[int] = deque()
        """The tags delivered on the channel and not yet acknowledged, in delivery order."""
        try:
            params = pika.URLParameters(spec.url)
        except (ValueError, TypeError) as error:
            raise ConnectorSpecError(name, "url", f"not an AMQP URL: {error}") from None
        params.heartbeat = 30
        self._params, self._batch = params, batch
        self._generation = 0
        """Counts connections: a delivery tag is only good on the channel that received it."""
        self._connection: Any = None
        self._channel: Any = None
        self._connect()

    @classmethod
    def from_spec(
        cls, name: str, spec: Any, *, dead_letter: Any, batch: int
    ) -> RabbitMQStreamSource:
        return cls(name, spec, dead_letter=dead_letter, batch=batch)

    def _guard(self, doing: str) -> AbstractContextManager[None]:
        return bus_errors(self.name, f"RabbitMQ at {host_of(self.spec.url)}", doing, self._errors)

    def _connect(self) -> None:
        """Open a connection and start consuming; the broker delivers again, on this one, what
        was unacknowledged when the previous one closed (so what it buffered is dropped)."""
        self._buffer, self._unacked = [], deque()
        with self._guard("connect"):
            self._connection = self._pika.BlockingConnection(self._params)
            self._channel = self._connection.channel()
            self._channel.confirm_delivery()
            self._channel.basic_qos(prefetch_count=self._batch)
            self._channel.basic_consume(self.spec.queue, self._on_message, auto_ack=False)
        self._generation += 1

    def _ready(self) -> None:
        """Reconnect when the connection or channel was closed (a broker restart, a network
        failure, the broker closing the connection)."""
        if not (self._connection.is_open and self._channel.is_open):
            self.close()
            self._connect()

    def _on_message(self, _channel: Any, method: Any, properties: Any, body: bytes) -> None:
        ident = properties.message_id or body_id(body)
        self._unacked.append(int(method.delivery_tag))
        self._buffer.append(
            StreamMessage(
                body=body,
                message_id=str(ident),
                partition=self.spec.queue,
                sequence=int(method.delivery_tag),
                redelivered=bool(method.redelivered),
                handle=(self._generation, method.delivery_tag),
            )
        )

    def fetch(self, limit: int, wait: float) -> list[StreamMessage]:
        deadline = time.monotonic() + wait
        self._ready()
        with self._guard("read"):
            while True:
                left = deadline - time.monotonic()
                self._connection.process_data_events(time_limit=max(0.0, left))
                if self._buffer or left <= 0:
                    break
            while 0 < len(self._buffer) < limit:  # more may be on their way: linger a little
                seen = len(self._buffer)
                self._connection.process_data_events(time_limit=LINGER)
                if len(self._buffer) == seen:
                    break
        taken, self._buffer = self._buffer[:limit], self._buffer[limit:]
        return taken

    def ack(self, messages: Sequence[StreamMessage]) -> None:
        self._ready()
        tags = {  # a tag of an earlier connection: requeued by the broker when it closed
            int(tag)
            for generation, tag in (m.handle for m in messages)
            if generation == self._generation
        }
        run, single = ack_plan(self._unacked, tags)
        with self._guard("acknowledge"):
            if run:
                self._channel.basic_ack(delivery_tag=self._unacked[run - 1], multiple=True)
            for tag in single:
                self._channel.basic_ack(delivery_tag=tag)
        for _ in range(run):
            self._unacked.popleft()
        if single:
            self._unacked = deque(tag for tag in self._unacked if tag not in tags)

    def dead_letter(self, message: StreamMessage, body: bytes) -> None:
        dead = self._dead
        if dead is None or (dead.queue is None and dead.exchange is None):
            return
        exchange = dead.exchange or ""
        key = dead.queue if dead.exchange is None else (dead.routing_key or "")
        properties = self._pika.BasicProperties(
            content_type="application/json",
            delivery_mode=2,
            message_id=f"dead:{message.message_id}",
        )
        self._ready()
        with self._guard("publish a dead letter"):
            self._channel.basic_publish(exchange, key, body, properties, mandatory=True)

    def lag(self) -> int | None:
        self._ready()
        with self._guard("read the queue's depth"):
            declared = self._channel.queue_declare(self.spec.queue, passive=True)
        return int(declared.method.message_count)

    def close(self) -> None:
        try:
            if self._connection is not None and self._connection.is_open:
                self._connection.close()
        except self._errors:
            pass


def ack_plan(unacked: Sequence[int], tags: set[int]) -> tuple[int, list[int]]:
    """How to acknowledge ``tags`` when ``unacked`` are the channel's unacknowledged tags in
    delivery order: how many of ``unacked``, from its first, lie within ``tags`` (the last of
    them is acknowledged with ``multiple=True``, which covers every unacknowledged tag up to
    it), and the tags left to acknowledge one at a time, in ascending order."""
    run = 0
    for tag in unacked:
        if tag not in tags:
            break
        run += 1
    covered = set(itertools.islice(unacked, run))
    return run, sorted(tags - covered)
