"""What every stream source offers, and what the ``doorstep.streams`` entry point names.

A source hands out messages in bounded batches, is told which to acknowledge (only after the
decisions they made are committed), and publishes the messages that break the contract to a
dead-letter destination. That is all the consumer (:mod:`doorstep.services.decide.streams`)
needs, so any bus with per-message or per-offset acknowledgement fits:

- NATS JetStream (durable pull consumer, ``ack`` per message), Redis Streams (``XREADGROUP`` /
  ``XACK``), RabbitMQ (``basic_ack`` per delivery tag, ``prefetch_count``), MQTT (QoS 1 ``PUBACK``
  sent by hand) are built in.
- A **Kafka** plugin fits the same interface: ``fetch`` polls a consumer with
  ``enable.auto.commit=false`` (``partition`` = the topic partition, ``sequence`` = the offset,
  ``message_id`` = ``topic/partition/offset`` or a header), ``ack`` commits the highest offset + 1
  of each partition among the acknowledged messages, and ``dead_letter`` produces to a topic.
  Register its class under ``[project.entry-points."doorstep.streams"]``; it is not shipped
  because no Kafka broker runs where doorstep is tested.
"""

from __future__ import annotations

import builtins
import hashlib
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Protocol

from pydantic import BaseModel

from doorstep.errors import StreamUnavailableError

__all__ = [
    "StreamMessage",
    "StreamSource",
    "StreamSourceFactory",
    "bus_errors",
    "body_id",
    "dead_letter_body",
    "host_of",
]


@dataclass(frozen=True)
class StreamMessage:
    """One delivery of one message."""

    body: bytes
    message_id: str
    """The bus's id of the message: the same on every redelivery (see ``dedupe``)."""
    partition: str | None = None
    """Where on the bus it was read: the subject, stream key, queue or topic (a Kafka
    partition)."""
    sequence: int | str | None = None
    """Its position there: the JetStream stream sequence, the Redis entry id, the AMQP delivery
    tag (a Kafka offset)."""
    redelivered: bool = False
    handle: Any = None
    """What the source needs to acknowledge it (opaque to the consumer)."""


class StreamSource(Protocol):
    """A bus read by one consumer; every method may raise
    :class:`doorstep.errors.StreamUnavailableError`."""

    name: str
    """The spec's stream name."""
    kind: str
    """The source's ``type``: ``nats``, ``redis``, ``rabbitmq``, ``mqtt`` or a plugin's."""

    def fetch(self, limit: int, wait: float) -> list[StreamMessage]:
        """Up to ``limit`` messages, waiting at most ``wait`` seconds for the first; no more
        than ``limit`` are ever delivered unacknowledged to this consumer (the bound of
        in-flight messages)."""
        ...

    def ack(self, messages: Sequence[StreamMessage]) -> None:
        """Acknowledge ``messages``: the bus will not deliver them again."""
        ...

    def dead_letter(self, message: StreamMessage, body: bytes) -> None:
        """Publish ``body`` (see :func:`dead_letter_body`) to the stream's dead-letter
        destination, confirmed by the bus before it returns."""
        ...

    def lag(self) -> int | None:
        """Messages waiting for this consumer on the bus (``None`` when the bus cannot tell)."""
        ...

    def close(self) -> None:
        """Disconnect; unacknowledged messages are delivered again (to this consumer or a
        peer)."""
        ...


class StreamSourceFactory(Protocol):
    """What a ``doorstep.streams`` entry point names: a class building a source from the
    stream's ``source`` settings (validated by ``spec_model`` first)."""

    type: str
    spec_model: builtins.type[BaseModel]

    @classmethod
    def from_spec(cls, name: str, spec: Any, *, dead_letter: Any, batch: int) -> StreamSource: ...


def body_id(body: bytes) -> str:
    """A message id made of the body, for buses and messages that carry none."""
    return "sha256:" + hashlib.sha256(body).hexdigest()


def dead_letter_body(stream: str, message: StreamMessage, errors: list[dict[str, Any]]) -> bytes:
    """The dead letter of ``message``: where it came from, why it was refused, and its body
    (as text when it is UTF-8, else hex)."""
    import orjson

    try:
        original: Any = message.body.decode()
        encoding = "utf-8"
    except UnicodeDecodeError:
        original, encoding = message.body.hex(), "hex"
    return orjson.dumps(
        {
            "stream": stream,
            "message_id": message.message_id,
            "partition": message.partition,
            "sequence": message.sequence,
            "errors": errors,
            "body": original,
            "body_encoding": encoding,
        }
    )


@contextmanager
def bus_errors(
    stream: str, bus: str, doing: str, errors: tuple[type[BaseException], ...]
) -> Iterator[None]:
    """``errors`` raised inside as :class:`StreamUnavailableError` naming the stream, the bus
    and what was being done (``read``, ``acknowledge``, ...)."""
    try:
        yield
    except errors as error:
        raise StreamUnavailableError(
            stream,
            f"stream {stream!r}: {bus} failed to {doing}: {type(error).__name__}: {error}",
        ) from None


def host_of(url: str) -> str:
    """``url`` without its credentials, for messages."""
    scheme, _, rest = url.partition("://")
    return f"{scheme}://{rest.rpartition('@')[2]}" if rest else url
