"""What every feature source offers: rows by entity id, in one round trip for many ids; and what
the ``doorstep.sources`` entry point names: a class that builds sources from the spec."""

from __future__ import annotations

import socket
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from doorstep.errors import ConnectorSpecError, FeatureSourceUnavailableError

__all__ = [
    "FeatureRow",
    "FeatureSource",
    "ProbedSource",
    "ScanSource",
    "SourceFactory",
    "check_host",
    "observed_time",
]


@dataclass(frozen=True)
class FeatureRow:
    """One entity's values as found in a source: input field → value (as stored there), and
    when the source says the row was last updated (``None`` when it does not say)."""

    values: dict[str, Any]
    observed_at: datetime | None
    rows: int = 1
    """How many rows the source holds for the id, for a source that can tell (a SQL table
    without a unique key may hold two). With more than one, ``values`` are one of them, and
    every record that needs this source's fields is refused (rule ``entity_ambiguous``)."""


class FeatureSource(Protocol):
    name: str
    kind: str
    """The spec's ``type``: ``sql``, ``redis``, ``feast`` or a plugin's."""
    fields: tuple[str, ...]
    """The input fields this source provides."""
    timeout: float

    def lookup(self, ids: Sequence[str]) -> dict[str, FeatureRow]:
        """The rows of ``ids`` that exist, in one round trip; ids not found are absent; an id
        with several rows has one :class:`FeatureRow` whose ``rows`` says how many. The ids
        were checked first (:mod:`doorstep.sources.ids`): printable text of at most 256
        characters, the canonical decimal text of a 64-bit integer for ``id_type: int``.
        Raises :class:`doorstep.errors.FeatureSourceUnavailableError` when the source fails,
        or :class:`doorstep.errors.EntityIdRefusedError` when it refuses an id as data."""
        ...

    def close(self) -> None: ...


class ProbedSource(FeatureSource, Protocol):
    """A source that can be checked before it serves (``doorstep validate``, ``serve``'s
    start-up); optional for plugins: one without ``probe`` is not checked."""

    def probe(self) -> None:
        """Connect and check that lookups can work, asking for no entity. Raise
        :class:`doorstep.errors.ConnectorSpecError` (naming the spec key at fault) for what can
        never work — a missing table, column, feature view, a host that does not exist — and
        :class:`doorstep.errors.FeatureSourceUnavailableError` when the source cannot be
        reached now (it may come up later)."""
        ...


class ScanSource(FeatureSource, Protocol):
    def scan(self, after: str | None, chunk_rows: int) -> Iterator[list[tuple[str, FeatureRow]]]:
        """Every entity with an id greater than ``after``, in id order, ``chunk_rows`` at a time,
        read with a server-side cursor (constant memory)."""
        ...


class SourceFactory(Protocol):
    """What the ``doorstep.sources`` entry point names: a class that builds feature sources (see
    :mod:`doorstep.plugins`). The entry point's name is the ``type`` of a ``features`` entry."""

    @classmethod
    def from_spec(
        cls, name: str, spec: Any, *, id_field: str, fields: list[str], base_dir: Path
    ) -> FeatureSource:
        """The source of the ``features`` entry ``name`` (no connection is made yet). ``id_field``
        is the spec's ``inputs.id``, ``fields`` its input fields, ``base_dir`` the spec's folder
        (relative paths in the entry are relative to it). Raise
        :class:`doorstep.errors.ConnectorSpecError` for settings that cannot work."""
        ...


def observed_time(value: Any) -> datetime | None:
    """A row's update time: a datetime (naive ones are UTC), seconds since 1970 (number or
    text), or ISO 8601 text. ``None`` when missing or unreadable."""
    if value is None or value == "":
        return None
    if isinstance(value, bytes):
        value = value.decode()
    if isinstance(value, datetime):
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    if isinstance(value, int | float) and not isinstance(value, bool):
        return datetime.fromtimestamp(float(value), UTC)
    text = str(value).strip()
    try:
        return datetime.fromtimestamp(float(text), UTC)
    except ValueError:
        pass
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def check_host(source: str, key: str, host: str | None) -> None:
    """For a source's probe: raise :class:`ConnectorSpecError` when DNS says ``host`` does not
    exist (a typo never starts working), :class:`FeatureSourceUnavailableError` when DNS
    cannot answer now. Hosts that are addresses, and no host (a socket, SQLite), pass."""
    if not host:
        return
    try:
        socket.getaddrinfo(host, None)
    except socket.gaierror as error:
        if error.errno in _NO_SUCH_HOST:
            raise ConnectorSpecError(
                source, key, f"the host {host!r} does not exist ({error.strerror}); fix the URL"
            ) from None
        raise FeatureSourceUnavailableError(
            source, f"feature source {source!r}: the host {host!r} cannot be resolved now: {error}"
        ) from None


_NO_SUCH_HOST = {
    getattr(socket, name) for name in ("EAI_NONAME", "EAI_NODATA") if hasattr(socket, name)
}
