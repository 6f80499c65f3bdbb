"""Batch runs from feature sources (see ``docs/runs.md``; the scheduler's lease is
:mod:`doorstep.store.leases`).

A run is one row of ``runs``: its counts, its first errors and its **checkpoint**, the last
entity id whose chunk was committed. Each chunk's decisions are written in the transaction that
moves the checkpoint, and only while the writer still holds the run's lease token, so a run that
crashed resumes after its checkpoint and a runner whose lease was taken over can write nothing:
every entity of a run is decided once.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from doorstep.store.canonical import dump_json
from doorstep.store.cursor import decode_cursor, encode_cursor
from doorstep.store.protocols import RecordRequest
from doorstep.store.tables import runs

__all__ = [
    "MAX_RUN_ERRORS",
    "RUN_STATES",
    "RunState",
    "ChunkProgress",
    "RunInfo",
    "RunLease",
    "RunPage",
    "RunQuery",
]

RunState = Literal["running", "succeeded", "failed", "skipped"]
RUN_STATES: tuple[RunState, ...] = ("running", "succeeded", "failed", "skipped")
"""``skipped``: a scheduled slot that was not run (missed by more than its ``catch_up``)."""
MAX_RUN_ERRORS = 100
"""Rejected records kept with a run (the counts go on)."""


@dataclass(frozen=True)
class RunInfo:
    id: str
    app: str
    schedule: str | None
    """The schedule that started it; ``None`` for a run started by hand."""
    slot: datetime | None
    """The scheduled time it decides for (one run per slot)."""
    source: str
    state: str
    started_at: datetime
    updated_at: datetime
    finished_at: datetime | None
    checkpoint: str | None
    rows: int
    decided: int
    rejected: int
    deliveries: int
    errors: list[dict[str, Any]]
    error: str | None
    attempts: int
    """1, plus one for every time another runner took the run over after a crash."""
    runner: str | None
    lease_expires_at: datetime | None
    options: dict[str, Any] = field(default_factory=dict)
    """How it runs (``deliver``, ``explain``, ``chunk_rows``; ``query`` for a run by hand from
    a query), kept for a resume; empty for runs from before revision 0009."""


@dataclass(frozen=True)
class RunLease:
    """A run held by one runner: only writes carrying ``token`` count."""

    run: RunInfo
    token: str


@dataclass(frozen=True)
class ChunkProgress:
    """What one committed chunk adds to its run."""

    checkpoint: str | None
    rows: int = 0
    decided: int = 0
    rejected: int = 0
    deliveries: int = 0
    errors: list[dict[str, Any]] = field(default_factory=list)


@dataclass(frozen=True)
class RunQuery:
    app: str | None = None
    schedule: str | None = None
    state: str | None = None
    """A state, or ``stale``: running runs whose lease has expired."""
    cursor: str | None = None
    limit: int = 50


@dataclass(frozen=True)
class RunPage:
    items: list[RunInfo]
    next_cursor: str | None


def _info(row: Any) -> RunInfo:
    return RunInfo(
        id=row.id,
        app=row.app,
        schedule=row.schedule,
        slot=row.slot,
        source=row.source,
        state=row.state,
        started_at=row.started_at,
        updated_at=row.updated_at,
        finished_at=row.finished_at,
        checkpoint=row.checkpoint,
        rows=row.rows,
        decided=row.decided,
        rejected=row.rejected,
        deliveries=row.deliveries,
        errors=list(row.errors or []),
        error=row.error,
        attempts=row.attempts,
        runner=row.runner,
        lease_expires_at=row.lease_expires_at,
        options=dict(row.options or {}),
    )


def get_run(conn: sa.Connection, run_id: str) -> RunInfo | None:
    row = conn.execute(sa.select(runs).where(runs.c.id == run_id)).first()
    return _info(row) if row is not None else None


def list_runs(conn: sa.Connection, query: RunQuery) -> RunPage:
    limit = max(1, min(query.limit, 1000))
    where: list[sa.ColumnElement[bool]] = []
    if query.app is not None:
        where.append(runs.c.app == query.app)
    if query.schedule is not None:
        where.append(runs.c.schedule == query.schedule)
    if query.state == "stale":  # running, but its runner stopped renewing its lease
        now = datetime.now(UTC)
        where += [runs.c.state == "running", runs.c.lease_expires_at < now]
    elif query.state is not None:
        where.append(runs.c.state == query.state)
    if query.cursor:
        at, last = decode_cursor(query.cursor)
        where.append(
            sa.or_(runs.c.started_at < at, sa.and_(runs.c.started_at == at, runs.c.id < last))
        )
    rows = conn.execute(
        sa.select(runs)
        .where(*where)
        .order_by(runs.c.started_at.desc(), runs.c.id.desc())
        .limit(limit + 1)
    ).all()
    items = [_info(r) for r in rows[:limit]]
    cursor = encode_cursor(items[-1].started_at, items[-1].id) if len(rows) > limit else None
    return RunPage(items, cursor)


def start_run(
    conn: sa.Connection,
    *,
    run_id: str,
    app: str,
    schedule: str | None,
    slot: datetime | None,
    source: str,
    runner: str,
    lease_seconds: float,
    now: datetime,
    options: dict[str, Any] | None = None,
) -> RunLease | None:
    """Insert a running run; ``None`` when the slot has a run already (another server's)."""
    token = secrets.token_hex(16)
    values: dict[str, Any] = {
        "id": run_id,
        "app": app,
        "schedule": schedule,
        "slot": slot,
        "source": source,
        "state": "running",
        "started_at": now,
        "updated_at": now,
        "runner": runner,
        "lease_token": token,
        "lease_expires_at": now + timedelta(seconds=lease_seconds),
        "attempts": 1,
        "errors": [],
        "options": options or {},
    }
    if not _insert_unless_slot_taken(conn, values):
        return None
    run = get_run(conn, run_id)
    assert run is not None
    return RunLease(run, token)


def skip_slot(
    conn: sa.Connection,
    *,
    run_id: str,
    app: str,
    schedule: str,
    slot: datetime,
    source: str,
    reason: str,
    now: datetime,
) -> RunInfo | None:
    """Record a slot that will not run as a ``skipped`` run saying why; ``None`` when the slot
    has a run already."""
    values: dict[str, Any] = {
        "id": run_id,
        "app": app,
        "schedule": schedule,
        "slot": slot,
        "source": source,
        "state": "skipped",
        "started_at": now,
        "updated_at": now,
        "finished_at": now,
        "error": reason,
        "attempts": 0,
        "errors": [],
        "options": {},
    }
    return get_run(conn, run_id) if _insert_unless_slot_taken(conn, values) else None


def _insert_unless_slot_taken(conn: sa.Connection, values: dict[str, Any]) -> bool:
    """Insert the run ``values``; ``False`` when its scheduled slot has a run already."""
    insert = postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
    made = conn.execute(
        insert(runs).values(**values).on_conflict_do_nothing().returning(runs.c.id)
    ).first()
    return made is not None


def last_slot(conn: sa.Connection, app: str, schedule: str) -> datetime | None:
    """The latest slot of ``schedule`` that has a run (of any state)."""
    found: datetime | None = conn.execute(
        sa.select(sa.func.max(runs.c.slot)).where(runs.c.app == app, runs.c.schedule == schedule)
    ).scalar()
    return found


def expired_runs(conn: sa.Connection, now: datetime) -> list[RunInfo]:
    """Running runs whose runner stopped renewing its lease (it crashed or was killed)."""
    rows = conn.execute(
        sa.select(runs)
        .where(runs.c.state == "running", runs.c.lease_expires_at < now)
        .order_by(runs.c.started_at)
    )
    return [_info(r) for r in rows]


def take_over(
    conn: sa.Connection, run_id: str, runner: str, lease_seconds: float, now: datetime
) -> RunLease | None:
    """Hold an expired run under a new token (the old runner's writes are refused from now)."""
    token = secrets.token_hex(16)
    changed = conn.execute(
        runs.update()
        .where(runs.c.id == run_id, runs.c.state == "running", runs.c.lease_expires_at < now)
        .values(
            runner=runner,
            lease_token=token,
            lease_expires_at=now + timedelta(seconds=lease_seconds),
            attempts=runs.c.attempts + 1,
            updated_at=now,
        )
    ).rowcount
    if changed != 1:
        return None
    run = get_run(conn, run_id)
    assert run is not None
    return RunLease(run, token)


def reopen(conn: sa.Connection, run_id: str, now: datetime) -> RunInfo | None:
    """A failed run made running again, with an expired lease and no runner: the next
    :func:`take_over` holds it and goes on after its checkpoint. A running run whose lease has
    expired already (its runner died) is left as it is. Returns the run as it was, or ``None``
    when it cannot be resumed (it succeeded, was skipped, or a runner holds it)."""
    before = get_run(conn, run_id)
    if before is None:
        return None
    if before.state == "running":
        expires = before.lease_expires_at
        return before if expires is not None and expires < now else None
    changed = conn.execute(
        runs.update()
        .where(runs.c.id == run_id, runs.c.state == "failed")
        .values(
            state="running",
            error=None,
            finished_at=None,
            runner=None,
            lease_token=None,
            lease_expires_at=now - timedelta(seconds=1),
            updated_at=now,
        )
    ).rowcount
    return before if changed == 1 else None


def recorded_ids(conn: sa.Connection, ids: list[str]) -> set[str]:
    """Which of the decision ``ids`` the store holds already: one statement with the ids as one
    parameter (a PostgreSQL array; a JSON array that SQLite's ``json_each`` reads), so that a
    chunk of 100,000 costs no Python per id and no cap on a statement's parameters."""
    if not ids:
        return set()
    if conn.dialect.name == "postgresql":
        found = conn.exec_driver_sql("SELECT id FROM decisions WHERE id = ANY(%s)", (ids,))
    else:
        found = conn.exec_driver_sql(
            "SELECT id FROM decisions WHERE id IN (SELECT value FROM json_each(?))",
            (dump_json(ids),),
        )
    return {row[0] for row in found}


def without_recorded(
    requests: list[RecordRequest], progress: ChunkProgress, known: set[str]
) -> tuple[list[RecordRequest], ChunkProgress]:
    """``requests`` without the decisions whose ids are ``known`` (and their deliveries), and
    ``progress`` without their rows, decisions and deliveries: they were counted when recorded."""
    kept: list[RecordRequest] = []
    dropped_deliveries = 0
    for request in requests:
        deliveries_ = [d for d in request.deliveries if d.decision_id not in known]
        dropped_deliveries += len(request.deliveries) - len(deliveries_)
        decisions_ = [d for d in request.decisions if d.id not in known]
        shadow_ = [r for r in request.shadow if r.decision_id not in known]
        rows_ = None if request.rows is None else request.rows.without(known)
        kept.append(
            replace(
                request, decisions=decisions_, deliveries=deliveries_, shadow=shadow_, rows=rows_
            )
        )
    counted = replace(
        progress,
        rows=progress.rows - len(known),
        decided=progress.decided - len(known),
        deliveries=progress.deliveries - dropped_deliveries,
    )
    return kept, counted


def commit_chunk(
    conn: sa.Connection,
    run_id: str,
    token: str,
    progress: ChunkProgress,
    lease_seconds: float,
    now: datetime,
) -> bool:
    """Move the checkpoint and add the counts, renewing the lease; ``False`` when the token no
    longer holds the run (then the caller's transaction must not commit)."""
    values: dict[str, Any] = {
        "rows": runs.c.rows + progress.rows,
        "decided": runs.c.decided + progress.decided,
        "rejected": runs.c.rejected + progress.rejected,
        "deliveries": runs.c.deliveries + progress.deliveries,
        "updated_at": now,
        "lease_expires_at": now + timedelta(seconds=lease_seconds),
    }
    if progress.checkpoint is not None:
        values["checkpoint"] = progress.checkpoint
    held = (runs.c.id == run_id, runs.c.lease_token == token, runs.c.state == "running")
    if progress.errors:
        kept = conn.execute(sa.select(runs.c.errors).where(*held)).scalar_one_or_none()
        room = MAX_RUN_ERRORS - len(kept or [])
        if room > 0:
            values["errors"] = [*(kept or []), *progress.errors[:room]]
    return bool(conn.execute(runs.update().where(*held).values(**values)).rowcount == 1)


def finish_run(
    conn: sa.Connection, run_id: str, token: str, state: RunState, error: str | None, now: datetime
) -> bool:
    return bool(
        conn.execute(
            runs.update()
            .where(runs.c.id == run_id, runs.c.lease_token == token, runs.c.state == "running")
            .values(
                state=state,
                error=error,
                finished_at=now,
                updated_at=now,
                lease_token=None,
                lease_expires_at=None,
            )
        ).rowcount
        == 1
    )
