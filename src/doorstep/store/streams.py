"""What stream consumers report (``stream_consumers``): one row per consumer process, replaced on
every report; ``doorstep streams list`` sums them per app and stream."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from doorstep.store.tables import stream_consumers

__all__ = ["ACTIVE_FOR", "ConsumerReport", "StreamSummary", "list_streams", "report_consumer"]

ACTIVE_FOR = timedelta(seconds=60)
"""A consumer that reported within this long counts as running (its rate counts)."""


@dataclass(frozen=True)
class ConsumerReport:
    """One consumer's counters since it started (cumulative), and its latest lag and rate."""

    app: str
    stream: str
    consumer: str
    source: str
    started_at: datetime
    updated_at: datetime
    received: int = 0
    decided: int = 0
    duplicates: int = 0
    """Redeliveries of messages decided before: acknowledged, not decided again."""
    rejected: int = 0
    dead_letters: int = 0
    errors: int = 0
    """Failed attempts (bus or store unavailable): the batch was retried, nothing acknowledged."""
    lag: int | None = None
    rate: float = 0.0
    last_error: str | None = None
    last_error_at: datetime | None = None


@dataclass(frozen=True)
class StreamSummary:
    """A stream of an app, summed over its consumers."""

    app: str
    stream: str
    source: str
    consumers: int
    """Consumers that reported within :data:`ACTIVE_FOR`."""
    received: int
    decided: int
    duplicates: int
    rejected: int
    dead_letters: int
    errors: int
    lag: int | None
    """The lag the latest report saw."""
    rate: float
    """Messages/s of the running consumers."""
    updated_at: datetime
    last_error: str | None
    last_error_at: datetime | None


def report_consumer(conn: sa.Connection, report: ConsumerReport) -> None:
    values = {
        "app": report.app[:200],
        "stream": report.stream[:200],
        "consumer": report.consumer[:200],
        "source": report.source[:32],
        "started_at": report.started_at,
        "updated_at": report.updated_at,
        "received": report.received,
        "decided": report.decided,
        "duplicates": report.duplicates,
        "rejected": report.rejected,
        "dead_letters": report.dead_letters,
        "errors": report.errors,
        "lag": report.lag,
        "rate": report.rate,
        "last_error": report.last_error,
        "last_error_at": report.last_error_at,
    }
    insert = postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
    keys = ("app", "stream", "consumer")
    statement = insert(stream_consumers).values(values)
    conn.execute(
        statement.on_conflict_do_update(
            index_elements=list(keys),
            set_={k: v for k, v in values.items() if k not in keys},
        )
    )


def list_streams(conn: sa.Connection, now: datetime) -> list[StreamSummary]:
    rows = conn.execute(
        sa.select(stream_consumers).order_by(
            stream_consumers.c.app, stream_consumers.c.stream, stream_consumers.c.updated_at
        )
    ).all()
    grouped: dict[tuple[str, str], list[sa.Row[tuple[object, ...]]]] = {}
    for row in rows:
        grouped.setdefault((row.app, row.stream), []).append(row)
    found: list[StreamSummary] = []
    for (app, stream), reports in grouped.items():
        latest = reports[-1]
        active = [r for r in reports if now - r.updated_at <= ACTIVE_FOR]
        failed = [r for r in reports if r.last_error_at is not None]
        last = max(failed, key=lambda r: r.last_error_at) if failed else None
        found.append(
            StreamSummary(
                app=app,
                stream=stream,
                source=latest.source,
                consumers=len(active),
                received=sum(r.received for r in reports),
                decided=sum(r.decided for r in reports),
                duplicates=sum(r.duplicates for r in reports),
                rejected=sum(r.rejected for r in reports),
                dead_letters=sum(r.dead_letters for r in reports),
                errors=sum(r.errors for r in reports),
                lag=latest.lag,
                rate=sum(r.rate for r in active),
                updated_at=latest.updated_at,
                last_error=None if last is None else last.last_error,
                last_error_at=None if last is None else last.last_error_at,
            )
        )
    return found
