"""Streams as ``GET /v1/streams`` shows them: what the consumers reported (the figures of
``doorstep streams list``), and the streams the served specs declare that no consumer reported
on yet (every count 0, no consumer)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from doorstep.core.spec.streams import unknown_stream
from doorstep.errors import InputError, NotFoundError
from doorstep.services.apps.loading import LoadedApp
from doorstep.store.protocols import StreamStore
from doorstep.store.streams import StreamSummary

__all__ = ["stream_view", "stream_views"]


def stream_views(
    store: StreamStore, apps: Iterable[LoadedApp], *, app: str | None = None
) -> list[dict[str, Any]]:
    """Every stream reported on or declared by ``apps`` (those of ``app`` alone when given),
    by app and stream name."""
    return [_view(s) for s in _summaries(store, apps) if app is None or s.app == app]


def stream_view(
    store: StreamStore, apps: Iterable[LoadedApp], name: str, *, app: str | None = None
) -> dict[str, Any]:
    """The stream ``name`` (of ``app`` when several apps have one of that name);
    :class:`NotFoundError` naming the streams there are, :class:`InputError` when the name is
    ambiguous."""
    summaries = _summaries(store, apps)
    found = [s for s in summaries if s.stream == name and (app is None or s.app == app)]
    if not found:
        names = sorted({s.stream for s in summaries if app is None or s.app == app})
        where = "" if app is None else f" of app {app!r}"
        raise NotFoundError(f"There is no stream {name!r}{where}: {unknown_stream(name, names)}.")
    if len(found) > 1:
        owners = ", ".join(sorted(s.app for s in found))
        raise InputError(
            f"The stream name {name!r} is declared by several apps ({owners}); "
            f"add '?app=APP' to say which."
        )
    return _view(found[0])


def _summaries(store: StreamStore, apps: Iterable[LoadedApp]) -> list[StreamSummary]:
    reported = {(s.app, s.stream): s for s in store.list_streams()}
    for loaded in apps:
        for name, spec in loaded.spec.streams.items():
            if (loaded.name, name) not in reported:
                reported[loaded.name, name] = _declared(loaded.name, name, spec.source.type)
    return [reported[key] for key in sorted(reported)]


def _declared(app: str, stream: str, source: str) -> StreamSummary:
    return StreamSummary(
        app=app,
        stream=stream,
        source=source,
        consumers=0,
        received=0,
        decided=0,
        duplicates=0,
        rejected=0,
        dead_letters=0,
        errors=0,
        lag=None,
        rate=0.0,
        updated_at=datetime.min.replace(tzinfo=UTC),
        last_error=None,
        last_error_at=None,
    )


def _iso(at: datetime | None) -> str | None:
    return None if at is None or at.year == 1 else at.isoformat()


def _view(summary: StreamSummary) -> dict[str, Any]:
    return {
        "app": summary.app,
        "stream": summary.stream,
        "source": summary.source,
        "consumers": summary.consumers,
        "lag": summary.lag,
        "messages_per_second": round(summary.rate, 3),
        "received": summary.received,
        "decided": summary.decided,
        "duplicates": summary.duplicates,
        "rejected": summary.rejected,
        "dead_letters": summary.dead_letters,
        "errors": summary.errors,
        "last_error": summary.last_error,
        "last_error_at": _iso(summary.last_error_at),
        "updated_at": _iso(summary.updated_at),
    }
