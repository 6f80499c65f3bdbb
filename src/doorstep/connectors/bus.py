"""What the bus connectors (RabbitMQ, NATS, Redis Streams, MQTT) share: the message they
publish, its headers, the destination rendered from its template, and their URL checks.

Every bus message carries the same JSON body the webhook connector POSTs (the action's rendered
``payload``), and these headers (AMQP headers, NATS headers, Redis stream fields, MQTT 5 user
properties), the same on every attempt of a delivery:

- ``doorstep-delivery-id``: the delivery's id, a stable message id: a consumer that remembers it
  acts once however often the delivery is retried (NATS JetStream and the Redis connector also
  drop a resend themselves);
- ``doorstep-idempotency-key``: ``<decision id>:<action>``, the webhook connector's
  ``webhook-id``;
- ``doorstep-app``, ``doorstep-action``, ``doorstep-decision-id``.

The connectors themselves share one shape, :class:`BusConnector`: the URL checked against the
bus's schemes, a redactor of its password and the spec's secrets, the network guard, and the
prologue of every send (the message rendered, the time left to send it).

A Kafka connector plugin fits the same shape: the body and headers from :func:`outgoing`, the
record's key and topic from templates, ``delivered`` on the broker's acknowledgement
(``acks=all``) and the delivery id as the record key or a header for consumers to dedupe.
"""

from __future__ import annotations

import builtins
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, Generic, Protocol, Self, TypeVar
from urllib.parse import SplitResult, unquote, urlsplit

from pydantic import BaseModel

from doorstep.connectors.base import ConnectorContext, Message, Redactor, SendResult
from doorstep.connectors.http import encode_json
from doorstep.connectors.net import check_address, parse_networks
from doorstep.connectors.templates import TemplateRenderError, render
from doorstep.errors import ConnectorSpecError

__all__ = [
    "CONTENT_TYPE",
    "BrokerGuard",
    "BusConnector",
    "BusSpec",
    "Outgoing",
    "bus_headers",
    "bus_redactor",
    "check_url",
    "describe",
    "outgoing",
]

CONTENT_TYPE = "application/json"


def bus_headers(delivery: Message) -> dict[str, str]:
    """The headers of a delivery's message (see the module docstring)."""
    return {
        "doorstep-delivery-id": delivery.id,
        "doorstep-idempotency-key": delivery.key,
        "doorstep-app": delivery.app,
        "doorstep-action": delivery.action,
        "doorstep-decision-id": str(delivery.context.get("decision_id", "")),
    }


@dataclass(frozen=True)
class Outgoing:
    """One message ready for a bus."""

    destination: str
    """The rendered routing key, subject, stream or topic."""
    body: bytes
    headers: dict[str, str]


def outgoing(
    delivery: Message,
    template: str,
    *,
    where: str,
    check: Callable[[str], str | None] | None = None,
    redact: Callable[[str], str] = str,
) -> Outgoing | SendResult:
    """The message of ``delivery`` with its destination rendered from ``template`` (named
    ``where`` in errors), or a ``failed`` result when the destination does not render or
    ``check`` refuses it, or the payload is not JSON: trying again cannot help."""
    try:
        destination = render(template, delivery.context, where=where)
    except TemplateRenderError as error:
        return SendResult("failed", redact(str(error)))
    problem = check(destination) if check is not None else None
    if problem is not None:
        return SendResult("failed", redact(f"{where}: {problem}"))
    try:
        body = encode_json(delivery.payload)
    except ValueError as error:
        return SendResult("failed", redact(f"payload is not JSON: {error}"))
    return Outgoing(destination, body, bus_headers(delivery))


def check_url(url: str, schemes: Iterable[str], *, connector: str) -> SplitResult:
    """``url`` split, when its scheme is one of ``schemes`` and it names a host; otherwise
    :class:`ConnectorSpecError` at ``url`` (without the URL: it may hold a password)."""
    allowed = list(schemes)
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - a port that is not a number raises here
    except ValueError as error:
        raise ConnectorSpecError(connector, "url", f"not a valid URL ({error})") from None
    if parts.scheme not in allowed:
        got = f"{parts.scheme}://" if parts.scheme else "no scheme"
        raise ConnectorSpecError(
            connector,
            "url",
            f"expected a URL starting with {' or '.join(s + '://' for s in allowed)}, got {got}",
        )
    if not parts.hostname:
        raise ConnectorSpecError(connector, "url", "the URL names no host")
    return parts


def bus_redactor(secrets: Iterable[str], url: SplitResult) -> Redactor:
    """A redactor of ``secrets`` and the URL's password (which a client library may show in
    its errors even when it did not come from the environment)."""
    hidden = set(secrets)
    if url.password:
        hidden.update({url.password, unquote(url.password)})
    return Redactor(hidden)


def describe(error: BaseException) -> str:
    """A client library's exception for an attempt's detail: its type, and its text if any."""
    text = str(error)
    return f"{type(error).__name__}: {text}" if text else type(error).__name__


class BrokerGuard:
    """The network guard for a broker (see :mod:`doorstep.connectors.net`): every address its
    host resolves to must be public or inside ``allow_networks``. Checked before each new
    connection; the client library then resolves the name again, as the SQL connector's
    drivers other than libpq do."""

    def __init__(
        self, url: SplitResult, default_port: int, allow: Iterable[str], *, connector: str
    ) -> None:
        self._networks = parse_networks(allow, connector=connector)
        self._host = url.hostname or ""
        self._port = url.port or default_port
        self._connector = connector

    def check(self) -> None:
        """Raise :class:`~doorstep.errors.AddressNotAllowedError` for a refused address,
        :class:`OSError` when the name does not resolve."""
        check_address(self._host, self._port, self._networks, connector=self._connector)


class BusSpec(Protocol):
    """What every bus connector's settings hold (``doorstep.core.spec.buses``)."""

    @property
    def url(self) -> str: ...

    @property
    def timeout(self) -> float: ...

    @property
    def allow_networks(self) -> list[str]: ...


SpecT = TypeVar("SpecT", bound=BusSpec)


class BusConnector(Generic[SpecT]):
    """The shape of a bus connector: ``name``, ``_spec``, the checked URL (``_url``, its
    ``_port``), ``_redact``, the network guard (``_guard``) and ``_where``, the YAML path of
    the destination's template; :meth:`_prepare` opens every send. A subclass sets the class
    attributes below and implements ``send`` and ``close``."""

    type: ClassVar[str]
    spec_model: ClassVar[builtins.type[BaseModel]]
    ports: ClassVar[Mapping[str, int]]
    """The URL schemes the bus takes, each with its default port."""
    destination: ClassVar[str]
    """The spec's field holding the destination's template (``routing_key``, ``subject``,
    ...)."""
    broker: ClassVar[str]
    """The bus, as a sentence names it (``RabbitMQ``, ``the MQTT broker``)."""

    def __init__(self, spec: SpecT, context: ConnectorContext) -> None:
        self.name = context.name
        self._spec = spec
        url = check_url(spec.url, self.ports, connector=context.name)
        self._url = url
        self._redact = bus_redactor(context.secrets, url)
        self._port = url.port or self.ports[url.scheme]
        self._guard = BrokerGuard(url, self._port, spec.allow_networks, connector=context.name)
        self._where = f"connectors.{context.name}.{self.destination}"

    @classmethod
    def from_spec(cls, spec: BaseModel, context: ConnectorContext) -> Self:
        """Check the URL and the destination's template; no network I/O (the first send
        connects)."""
        if not isinstance(spec, cls.spec_model):
            raise TypeError(f"expected a {cls.spec_model.__name__}, got {type(spec).__name__}")
        spec_: Any = spec
        return cls(spec_, context)

    @staticmethod
    def _destination_problem(destination: str, /) -> str | None:
        """What is wrong with a rendered destination (``None``: nothing)."""
        return None

    def _prepare(self, delivery: Message) -> tuple[Outgoing, float] | SendResult:
        """The delivery's message and the seconds its send may take (the spec's ``timeout``,
        less when the delivery's deadline comes first), or the result to return at once: a
        destination or payload that cannot be sent, or the deadline passed already."""
        template = str(getattr(self._spec, self.destination))
        message = outgoing(
            delivery,
            template,
            where=self._where,
            check=self._destination_problem,
            redact=self._redact,
        )
        if isinstance(message, SendResult):
            return message
        deadline = delivery.deadline
        timeout = deadline.limit(self._spec.timeout) if deadline else self._spec.timeout
        if deadline is not None and timeout <= 0:
            return deadline.give_up(f"connecting to {self.broker}")
        return message, timeout
