"""The spec's ``streams``: message buses whose events are decided as they arrive (see
docs/streams.md). Pure models: no connection is made here.

A stream names its ``source`` (a bus and where on it to read), the field of each message that
holds the entity id, what makes two deliveries the same message (``dedupe``), and where messages
that break the input contract go (``dead_letter``). The built-in source types are ``nats``,
``redis``, ``rabbitmq`` and ``mqtt``; a plugin registering the ``doorstep.streams`` entry point
adds others, whose settings its own ``spec_model`` checks when the stream is opened.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Discriminator, Field, Tag

from doorstep.core.suggest import did_you_mean

if TYPE_CHECKING:
    from doorstep.core.spec.loader import SpecDocument
    from doorstep.errors import SpecIssue

__all__ = [
    "BUILTIN_STREAM_TYPES",
    "MQTTStreamSourceSpec",
    "NATSStreamSourceSpec",
    "PluginStreamSourceSpec",
    "RabbitMQStreamSourceSpec",
    "RedisStreamSourceSpec",
    "StreamSourceSpec",
    "StreamSpec",
    "stream_issues",
]

BUILTIN_STREAM_TYPES = ("nats", "redis", "rabbitmq", "mqtt")


class _Strict(BaseModel):
    model_config = ConfigDict(
        extra="forbid", frozen=True, populate_by_name=True, use_attribute_docstrings=True
    )


class NATSStreamSourceSpec(_Strict):
    """A NATS JetStream durable pull consumer."""

    type: Literal["nats"]
    url: str = "nats://127.0.0.1:4222"
    stream: str
    """The JetStream stream (it must exist; doorstep does not create it)."""
    subject: str
    """The subject (filter) the consumer reads, e.g. ``orders.created``."""
    durable: str
    """The durable consumer's name: servers reading the same durable share its messages."""
    ack_wait: Annotated[float, Field(gt=0, le=3600)] = 30.0
    """Seconds before an unacknowledged message is delivered again."""


class RedisStreamSourceSpec(_Strict):
    """A Redis Stream read through a consumer group (``XREADGROUP``)."""

    type: Literal["redis"]
    url: str = "redis://127.0.0.1:6379/0"
    stream: str
    """The stream's key."""
    group: str
    """The consumer group (created at the stream's start, ``0``, when missing: a new group
    decides what the stream holds)."""
    claim_after: Annotated[float, Field(gt=0, le=3600)] = 30.0
    """Seconds after which a pending entry of a consumer that stopped is claimed and decided
    again (deduplicated: no second decision)."""


class RabbitMQStreamSourceSpec(_Strict):
    """A RabbitMQ (AMQP 0-9-1) queue consumed with manual acknowledgements."""

    type: Literal["rabbitmq"]
    url: str = "amqp://guest:guest@127.0.0.1:5672/"
    queue: str
    """The queue (it must exist; doorstep does not declare it)."""


class MQTTStreamSourceSpec(_Strict):
    """An MQTT (3.1.1 or 5) shared subscription at QoS 1 with a persistent session."""

    type: Literal["mqtt"]
    url: str = "mqtt://127.0.0.1:1883"
    topic: str
    """The topic filter, e.g. ``orders/created``."""
    group: str
    """The shared subscription's group (``$share/GROUP/TOPIC``): servers of one group share
    the messages."""
    client_id: str | None = None
    """The session's client id (default: ``doorstep-GROUP-STREAM``); keep it stable so that
    messages unacknowledged when a consumer stops are delivered again to it."""


class PluginStreamSourceSpec(BaseModel):
    """A source type a plugin adds: ``type`` and whatever settings its ``spec_model`` takes."""

    model_config = ConfigDict(extra="allow", frozen=True)
    type: str


def _source_tag(value: Any) -> str:
    kind = value.get("type") if isinstance(value, dict) else getattr(value, "type", None)
    return kind if kind in BUILTIN_STREAM_TYPES else "plugin"


StreamSourceSpec = Annotated[
    Annotated[NATSStreamSourceSpec, Tag("nats")]
    | Annotated[RedisStreamSourceSpec, Tag("redis")]
    | Annotated[RabbitMQStreamSourceSpec, Tag("rabbitmq")]
    | Annotated[MQTTStreamSourceSpec, Tag("mqtt")]
    | Annotated[PluginStreamSourceSpec, Tag("plugin")],
    Discriminator(_source_tag),
]


class DeadLetterSpec(_Strict):
    """Where a message that breaks the input contract goes, with its errors."""

    subject: str | None = None
    """NATS: the subject to publish to (JetStream or core NATS)."""
    stream: str | None = None
    """Redis: the stream key to ``XADD`` to."""
    queue: str | None = None
    """RabbitMQ: the queue to publish to (through the default exchange)."""
    exchange: str | None = None
    """RabbitMQ: an exchange to publish to instead, with ``routing_key``."""
    routing_key: str | None = None
    topic: str | None = None
    """MQTT: the topic to publish to (QoS 1)."""


class StreamSpec(_Strict):
    """One stream of events decided as they arrive (``doorstep consume``)."""

    source: StreamSourceSpec
    id: str | None = None
    """The field of each message holding the entity id (default: ``inputs.id``); renamed to
    ``inputs.id`` before the contract checks the record."""
    dedupe: str = "message_id"
    """What makes two deliveries one message: ``message_id`` (the bus's own id: the JetStream
    sequence, the Redis entry id, the AMQP ``message_id`` property, the MQTT 5 ``message-id``
    user property — a SHA-256 of the body where a bus has none) or the name of a field of the
    message (e.g. ``event_id``). At most one decision is made per message."""
    dead_letter: DeadLetterSpec | None = None
    """Where contract-breaking messages go (default: nowhere, they are acknowledged and kept as
    rejects)."""
    batch: Annotated[int, Field(ge=1, le=10_000)] = 100
    """Most messages decided and committed together (one micro-batch, one transaction)."""
    wait: Annotated[float, Field(gt=0, le=60)] = 0.2
    """Seconds a micro-batch waits for more messages before it is decided."""
    explain: bool | None = None
    """Explain every decision (``true``), none (``false``), or as ``explain.for`` says."""


def stream_issues(doc: SpecDocument) -> list[SpecIssue]:
    """``streams`` against the input contract: the id and dedupe fields it names."""
    spec = doc.spec
    issues: list[SpecIssue] = []
    for name, stream in spec.streams.items():
        where = ("streams", name)
        target = _dead_letter_key(stream)
        if stream.dead_letter is not None and target is not None:
            chosen = [getattr(stream.dead_letter, t) for t in target.split(" or ")]
            if all(c is None for c in chosen):
                issues.append(
                    doc.issue(
                        (*where, "dead_letter"),
                        f"a {stream.source.type} stream's dead letters need {target!r}",
                    )
                )
        if stream.id is not None and stream.id == spec.inputs.id:
            continue
        if stream.id is not None and stream.id in spec.inputs.fields:
            issues.append(
                doc.issue(
                    (*where, "id"),
                    f"{stream.id!r} is an input field, not the entity id; 'id' names the "
                    f"message field renamed to {spec.inputs.id!r}",
                )
            )
    return issues


def _dead_letter_key(stream: StreamSpec) -> str | None:
    kinds = {"nats": "subject", "redis": "stream", "mqtt": "topic", "rabbitmq": "queue or exchange"}
    return kinds.get(stream.source.type)


def unknown_stream(name: str, names: list[str]) -> str:
    """The message for a stream name the spec does not declare."""
    return (
        f"unknown stream {name!r}{did_you_mean(name, names)}; declared streams: "
        f"{', '.join(names) or 'none'}"
    )
