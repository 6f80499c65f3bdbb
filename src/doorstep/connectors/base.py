"""What a connector is: the small protocol every delivery target implements.

A connector delivers one action of one decision (a :class:`Message`) to a system people already
use and says how it went (a :class:`SendResult`). It never retries by itself and never raises
for a failed delivery: the dispatcher owns retries, leases and the attempt log, so a connector
only has to be honest about whether trying again could help.

Built-in connectors register under the ``doorstep.connectors`` entry-point group exactly as a
third-party connector would (the entry-point name is the spec's ``type``)::

    [project.entry-points."doorstep.connectors"]
    teams = "my_package.teams:TeamsConnector"

and :func:`doorstep.testing.check_connector` runs the conformance checks on any of them.
"""

from __future__ import annotations

import builtins
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Literal, Protocol, runtime_checkable

from pydantic import BaseModel

if TYPE_CHECKING:
    from doorstep.connectors.deadline import Deadline

__all__ = [
    "REDACTED",
    "Connector",
    "ConnectorContext",
    "ConnectorFactory",
    "Message",
    "SendOutcome",
    "Redactor",
    "SendResult",
    "redact",
]

SendOutcome = Literal["delivered", "retry", "failed", "gone"]
"""How an attempt went:

- ``delivered``: the target accepted it (HTTP 2xx, row written, mail accepted, line appended);
- ``retry``: it may succeed later (timeouts, connection errors, HTTP 5xx, 408, 429);
- ``failed``: trying again cannot help (HTTP 4xx other than 408/429, a rejected row);
- ``gone``: the target says it no longer exists (HTTP 410): the endpoint is disabled.
"""


REDACTED = "***"


def redact(text: str, secrets: Iterable[str]) -> str:
    """``text`` with every secret value replaced by ``***``, also where it appears URL-encoded,
    whole or in part (``tok%7Cen``, ``a+b`` for ``a b``), as an HTTP client writes it into a
    path or a query and a receiver echoes it back. Longer secrets are matched first, so a secret
    that contains another one is hidden whole."""
    return Redactor(secrets)(text)


class Redactor:
    """:func:`redact` for one set of secrets, prepared once: for text that is redacted often
    (every attempt's detail)."""

    def __init__(self, secrets: Iterable[str]) -> None:
        self._secrets = sorted({s for s in secrets if s}, key=len, reverse=True)
        self._pattern: re.Pattern[str] | None = None
        if self._secrets:
            self._pattern = re.compile("|".join(map(_encoded_forms, self._secrets)))
        self._plus = any(" " in s for s in self._secrets)

    def __call__(self, text: str) -> str:
        if self._pattern is None or not text:
            return text
        if "%" in text or (self._plus and "+" in text):  # maybe encoded: the slow way
            return self._pattern.sub(REDACTED, text)
        for secret in self._secrets:
            if secret in text:
                text = text.replace(secret, REDACTED)
        return text


def _encoded_forms(secret: str) -> str:
    """A pattern matching ``secret`` with any of its characters percent-encoded (hex digits in
    either case), and a space also written ``+``."""
    parts = []
    for char in secret:
        encoded = "".join(f"%{byte:02X}" for byte in char.encode("utf-8"))
        options = [re.escape(char), f"(?i:{encoded})"]
        if char == " ":
            options.append(r"\+")
        parts.append(f"(?:{'|'.join(options)})")
    return "".join(parts)


@dataclass(frozen=True)
class Message:
    """One action of one decision, on its way to one connector."""

    id: str
    """The delivery's id (a UUIDv7)."""
    key: str
    """Stable idempotency key of (decision, action): the same on every attempt and every worker
    (sent as ``webhook-id``); a receiver that remembers it counts the action once."""
    app: str
    action: str
    connector: str
    attempt: int
    """1 for the first attempt."""
    context: Mapping[str, Any]
    """What templates see: ``decision_id``, ``app``, ``entity_id``, ``score``, ``action``,
    ``status``, ``rule``, ``reasons`` (list of ``{sentence, feature, label, value, contribution,
    effect}``), ``reasons_text``, ``inputs``, ``model_version``, ``created_at`` (ISO 8601),
    ``decision_url`` and, for multiclass apps, ``predicted_class``."""
    payload: Any
    """The action's ``payload`` template, rendered with :attr:`context` (JSON-ready)."""
    text: str | None = None
    """A message for people that is ready as it is (an alert, its first line a headline):
    connectors that write to people (chat, e-mail) send it instead of their templates;
    ``None`` for a decision's action."""
    deadline: Deadline | None = None
    """When this attempt must be over (:class:`doorstep.connectors.deadline.Deadline`): the
    dispatcher sets one a little before the delivery's lease ends, and cancels it when the
    worker stops. A connector gives up by then with ``retry`` (see
    :meth:`~doorstep.connectors.deadline.Deadline.give_up`); ``None``: only its own
    timeouts apply."""


@dataclass(frozen=True)
class SendResult:
    outcome: SendOutcome
    detail: str = ""
    """What happened, for the attempt log and ``doorstep deliveries list``: never a secret."""
    status: int | None = None
    """The target's status code, where it has one (HTTP)."""
    retry_after: float | None = None
    """Seconds the target asked to wait (HTTP ``Retry-After``); the dispatcher honours it."""


@dataclass(frozen=True)
class ConnectorContext:
    """What a connector may need beyond its spec."""

    name: str
    """The connector's key under ``connectors`` in the spec."""
    base_dir: Path
    """The spec file's folder: relative paths are resolved against it."""
    secrets: frozenset[str] = field(default_factory=frozenset)
    """Values that came from the environment (``${VAR}``): connectors must never put them in a
    :class:`SendResult`, a log line or an exception message."""


@runtime_checkable
class Connector(Protocol):
    """A live connection to one target, made from one ``connectors:`` entry of a spec."""

    def send(self, delivery: Message) -> SendResult:
        """Deliver once. Blocking; called from worker threads, possibly concurrently. Ends by
        ``delivery.deadline`` when it has one (with ``retry`` if it could not finish)."""
        ...

    def close(self) -> None:
        """Release connections and files."""
        ...


@runtime_checkable
class ConnectorFactory(Protocol):
    """What the ``doorstep.connectors`` entry point names: a class that builds connectors."""

    type: ClassVar[str]
    """The spec's ``type`` for this connector."""
    spec_model: ClassVar[builtins.type[BaseModel]]
    """Pydantic model of its spec entry (with a ``type`` literal field)."""

    @classmethod
    def from_spec(cls, spec: BaseModel, context: ConnectorContext) -> Connector:
        """Check ``spec`` and build the connector (no network I/O yet)."""
        ...
