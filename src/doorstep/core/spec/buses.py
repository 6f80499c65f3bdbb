"""The spec of the bus connectors (``connectors.<name>`` of type ``rabbitmq``, ``nats``,
``redis``, ``mqtt``): actions published onto a message bus. Pure models and the checks of a
destination name (a NATS subject, an MQTT topic), used at load for a literal name and at send
for a rendered one.

Every bus connector has a ``url`` (credentials from the environment: ``${MQ_PASS}``), the
network guard's ``allow_networks``, a destination (exchange and routing key, subject, stream,
topic) whose name may be a template (``"decisions.{{ action }}"``), a ``timeout`` for
connecting and for the broker's acknowledgement, and a ``retry`` schedule, exactly like the
other connectors. A Kafka connector plugin would add ``topic`` and ``key`` templates the same
way.
"""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from doorstep.core.spec.retry import RetrySpec

__all__ = [
    "BUS_CONNECTOR_TYPES",
    "MQTTConnectorSpec",
    "NATSConnectorSpec",
    "RabbitMQConnectorSpec",
    "RedisStreamConnectorSpec",
    "mqtt_topic_problem",
    "nats_subject_problem",
]

BUS_CONNECTOR_TYPES = frozenset({"rabbitmq", "nats", "redis", "mqtt"})
"""The connector types that publish onto a message bus."""
_EXCHANGE = re.compile(r"^[A-Za-z0-9_.:-]{0,255}$")
"""AMQP 0-9-1 exchange names (``""``: the default exchange)."""
_STREAM = re.compile(r"^[^\s.*>/\\]{1,255}$")
"""JetStream stream names: no whitespace, ``.``, ``*``, ``>``, ``/`` or ``\\``."""


def _templated(value: str) -> bool:
    return "{{" in value or "{%" in value


def nats_subject_problem(subject: str) -> str | None:
    """What is wrong with a NATS subject to publish on (``None`` when it is fine): tokens
    separated by dots, none empty, no whitespace, no wildcard (``*``, ``>``)."""
    if not subject:
        return "the subject is empty"
    if any(char.isspace() for char in subject):
        return f"the subject {subject!r} contains whitespace"
    tokens = subject.split(".")
    if any(not token for token in tokens):
        return f"the subject {subject!r} has an empty token (two dots, or a dot at an end)"
    if any(token in ("*", ">") for token in tokens):
        return f"the subject {subject!r} holds a wildcard; a message is published on one subject"
    return None


def mqtt_topic_problem(topic: str) -> str | None:
    """What is wrong with an MQTT topic to publish on (``None`` when it is fine): not empty,
    no wildcard (``+``, ``#``), no NUL, at most 65,535 bytes."""
    if not topic:
        return "the topic is empty"
    if "+" in topic or "#" in topic:
        return f"the topic {topic!r} holds a wildcard (+ or #); a message is published on one topic"
    if "\x00" in topic:
        return "the topic contains a NUL character"
    if len(topic.encode("utf-8")) > 65535:
        return "the topic is longer than 65,535 bytes"
    return None


class _BusConnector(BaseModel):
    model_config = ConfigDict(
        extra="forbid", frozen=True, populate_by_name=True, use_attribute_docstrings=True
    )

    url: str
    """Where the broker listens, with its credentials from the environment, e.g.
    ``amqp://${MQ_USER}:${MQ_PASS}@127.0.0.1:5672/``."""
    timeout: Annotated[float, Field(gt=0, le=120)] = 10.0
    """Seconds for connecting and for the broker's acknowledgement of each message."""
    allow_networks: list[str] = []
    """Networks (CIDR, e.g. ``10.0.0.0/8``, or single addresses) of the broker that may be
    reached although they are private, loopback or link-local; such addresses are refused
    otherwise, checked before each new connection."""
    retry: RetrySpec = RetrySpec()


class RabbitMQConnectorSpec(_BusConnector):
    type: Literal["rabbitmq"]
    exchange: str
    """The exchange published to (it must exist; ``""`` is the default exchange, which routes
    by queue name)."""
    routing_key: str = "{{ action }}"
    """Template of the routing key, e.g. ``"churn.{{ action }}"``."""
    mandatory: bool = True
    """Refuse (and retry later) a message no queue is bound for, rather than let the broker
    drop it."""

    @field_validator("exchange")
    @classmethod
    def _exchange(cls, value: str) -> str:
        if not _EXCHANGE.match(value):
            raise ValueError(
                "an exchange name has at most 255 letters, digits and '-', '_', '.', ':'"
            )
        return value


class NATSConnectorSpec(_BusConnector):
    type: Literal["nats"]
    subject: str
    """Template of the subject published on, e.g. ``"decisions.{{ app }}.{{ action }}"``; a
    JetStream stream must capture it."""
    stream: str | None = None
    """The stream expected to capture the subject: a publish that lands elsewhere is refused."""

    @field_validator("stream")
    @classmethod
    def _stream(cls, value: str | None) -> str | None:
        if value is not None and not _STREAM.match(value):
            raise ValueError(
                "a JetStream stream name has no whitespace, '.', '*', '>', '/' or '\\'"
            )
        return value

    @field_validator("subject")
    @classmethod
    def _subject(cls, value: str) -> str:
        problem = None if _templated(value) else nats_subject_problem(value)
        if problem:
            raise ValueError(problem)
        return value


class RedisStreamConnectorSpec(_BusConnector):
    type: Literal["redis"]
    stream: str
    """Template of the stream's key that entries are added to (``XADD``), e.g. ``decisions``."""
    maxlen: Annotated[int, Field(gt=0)] | None = None
    """Trim the stream to about this many entries as entries are added (``MAXLEN ~``)."""
    dedupe_window: Annotated[float, Field(gt=0)] = 86400.0
    """Seconds a delivery's id is remembered next to the stream, so that a resend within that
    time adds no second entry."""

    @field_validator("stream")
    @classmethod
    def _stream(cls, value: str) -> str:
        if not value:
            raise ValueError("the stream's key is empty")
        return value


class MQTTConnectorSpec(_BusConnector):
    type: Literal["mqtt"]
    topic: str
    """Template of the topic published on (QoS 1), e.g. ``"doorstep/{{ app }}/{{ action }}"``."""
    retain: bool = False
    """Ask the broker to keep the last message of the topic for new subscribers."""
    client_id: str = ""
    """The MQTT client id; by default one is made up per connection."""

    @field_validator("topic")
    @classmethod
    def _topic(cls, value: str) -> str:
        problem = None if _templated(value) else mqtt_topic_problem(value)
        if problem:
            raise ValueError(problem)
        return value
