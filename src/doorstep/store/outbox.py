"""The outbox's queue mechanics: deliveries written with their decisions, released or re-targeted
by a verdict, claimed under leases, finished once.

A claim is one statement: ``UPDATE deliveries SET state = 'sending', lease_token = …,
attempts = attempts + 1 WHERE id IN (SELECT id … FOR UPDATE SKIP LOCKED) RETURNING …`` on
PostgreSQL, so concurrent workers skip each other's rows instead of waiting on them; on SQLite
(>= 3.35 for ``RETURNING``) the same statement runs under the single writer lock that
``BEGIN IMMEDIATE`` takes. While a delivery is ``sending``, ``next_attempt_at`` holds its lease
expiry, so that one index on ``(state, next_attempt_at)`` finds both due and abandoned rows.
Operators' reads and changes are in :mod:`doorstep.store.outbox_operations`.
"""

from __future__ import annotations

import functools
import secrets
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa

from doorstep.errors import StoreError
from doorstep.store import decisions as _decisions
from doorstep.store.bulk import DbTimes, insert_rows
from doorstep.store.protocols import AttemptResult, ClaimedDelivery, DeliveryRecord, FinishRequest
from doorstep.store.tables import (
    UTCDateTime,
    connector_states,
    deliveries,
    delivery_attempts,
)
from doorstep.types import DeliveryState

__all__ = [
    "MIN_SQLITE",
    "Lease",
    "claim",
    "finish",
    "finish_many",
    "insert_deliveries",
    "release_held",
    "retarget_held",
    "with_decisions",
]

DETAIL_CHARS = 2000
"""Longest attempt detail kept."""
MIN_SQLITE = (3, 35, 0)
_FINAL: frozenset[str] = frozenset({"pending", "delivered", "dead"})


_INSERT_COLUMNS = (
    "id", "decision_id", "app", "action", "connector", "key", "state", "attempts",
    "next_attempt_at", "created_at", "updated_at",
)  # fmt: skip


def _row(record: DeliveryRecord, times: DbTimes) -> tuple[Any, ...]:
    if record.state not in ("held", "pending"):
        raise StoreError(
            f"A new delivery must be 'held' or 'pending'; got {record.state!r} for {record.key}."
        )
    due = None
    if record.state == "pending":
        due = times(record.next_attempt_at or record.created_at)
    created = times(record.created_at)
    return (
        record.id,
        record.decision_id,
        record.app,
        record.action,
        record.connector,
        record.key,
        record.state,
        0,
        due,
        created,
        created,
    )


def insert_deliveries(
    conn: sa.Connection, records: Sequence[DeliveryRecord], times: DbTimes | None = None
) -> None:
    """Insert new outbox rows (in the caller's transaction); ``times`` converts their times
    (one for the dialect when not given)."""
    if records:
        times = times or DbTimes(conn.dialect.name)
        insert_rows(conn, "deliveries", _INSERT_COLUMNS, [_row(r, times) for r in records])


def release_held(
    conn: sa.Connection, decision_id: str, now: datetime, due: datetime | None = None
) -> int:
    """An approved decision: its held deliveries are due at ``due`` (default: now; later while
    the verdict can be undone, so that no worker claims them before)."""
    return conn.execute(
        deliveries.update()
        .where(deliveries.c.decision_id == decision_id, deliveries.c.state == "held")
        .values(state="pending", next_attempt_at=due or now, updated_at=now)
    ).rowcount


def retarget_held(
    conn: sa.Connection,
    decision_id: str,
    replacements: Sequence[DeliveryRecord],
    now: datetime,
    note: str,
    due: datetime | None = None,
) -> None:
    """An overridden decision: held deliveries of other actions are cancelled (with ``note``),
    one of the same key is released, and the new action's deliveries are inserted; what is
    released or inserted is due at ``due`` (default: now)."""
    for record in replacements:
        if record.decision_id != decision_id:
            raise StoreError(
                f"A verdict's deliveries must belong to its decision {decision_id}; got one for "
                f"{record.decision_id}."
            )
    keys = [r.key for r in replacements]
    held = deliveries.c.decision_id == decision_id, deliveries.c.state == "held"
    conn.execute(
        deliveries.update()
        .where(*held, deliveries.c.key.not_in(keys))
        .values(state="cancelled", next_attempt_at=None, updated_at=now, last_detail=note)
    )
    if not keys:
        return
    conn.execute(
        deliveries.update()
        .where(*held, deliveries.c.key.in_(keys))
        .values(state="pending", next_attempt_at=due or now, updated_at=now)
    )
    existing = set(
        conn.execute(sa.select(deliveries.c.key).where(deliveries.c.key.in_(keys))).scalars()
    )
    insert_deliveries(conn, [r for r in replacements if r.key not in existing])


def _check_sqlite(conn: sa.Connection) -> None:
    if conn.dialect.name == "sqlite" and sqlite3.sqlite_version_info < MIN_SQLITE:
        raise StoreError(
            f"Deliveries need SQLite {'.'.join(map(str, MIN_SQLITE))} or newer (for UPDATE … "
            f"RETURNING); this Python uses SQLite {sqlite3.sqlite_version}. Use a newer Python "
            "build or PostgreSQL."
        )


@dataclass(frozen=True)
class Lease:
    """A delivery just claimed, before its decision is read (see :func:`with_decisions`)."""

    id: str
    decision_id: str | None
    key: str
    app: str
    action: str
    connector: str
    attempts: int
    number: int
    lease_token: str
    lease_expires_at: datetime
    message: dict[str, Any] | None = None


def claim(
    conn: sa.Connection,
    worker: str,
    limit: int,
    lease_seconds: float,
    apps: Sequence[str] | None,
    now: datetime,
    exclude: Sequence[str] = (),
) -> list[Lease]:
    """Lease up to ``limit`` due deliveries and open an attempt for each (in the caller's write
    transaction). Their decisions are read by :func:`with_decisions`, which needs no writer,
    after the claim commits, so that the writer lock is held for less time (should that read
    fail, the leases run out and the deliveries are claimed again, as a stopped worker's).

    ``exclude`` names deliveries the caller is still sending: never claimed again by it, even
    once their lease expired (another worker may take them over)."""
    if limit <= 0:
        return []
    if lease_seconds <= 0:
        raise StoreError(f"The lease must last more than 0 seconds; got {lease_seconds}.")
    _check_sqlite(conn)
    token = secrets.token_hex(16)
    expires = now + timedelta(seconds=lease_seconds)
    params: dict[str, Any] = {"now": now, "limit": limit, "token": token, "expires": expires}
    if apps is not None:
        params["apps"] = list(apps)
    if exclude:
        params["busy"] = list(exclude)
    statement = _claim_statement(conn.dialect.name, by_app=apps is not None, busy=bool(exclude))
    claimed = conn.execute(statement, params).all()
    if not claimed:
        return []
    # an attempt still open belongs to a worker whose lease ran out: it is taken over now
    if tried := [row.id for row in claimed if row.last_number]:
        takeover = f"the lease expired before this worker finished; taken over by {worker}"
        conn.execute(_EXPIRE_OPEN_ATTEMPTS, {"ids": tried, "now": now, "takeover": takeover})
    ids = [row.id for row in claimed]
    conn.execute(_START_ATTEMPTS, {"ids": ids, "worker": worker, "token": token, "now": now})
    return [
        Lease(
            id=row.id,
            decision_id=row.decision_id,
            key=row.key,
            app=row.app,
            action=row.action,
            connector=row.connector,
            attempts=row.attempts,
            number=row.last_number + 1,
            lease_token=token,
            lease_expires_at=expires,
            message=row.message,
        )
        for row in claimed
    ]


def with_decisions(conn: sa.Connection, leases: Sequence[Lease]) -> list[ClaimedDelivery]:
    """The claimed deliveries with their decisions, oldest decision first (alerts, which have
    none, by their creation)."""
    wanted = {lease.decision_id for lease in leases if lease.decision_id is not None}
    decisions = _decisions.get_decisions(conn, wanted) if wanted else {}
    out = [
        ClaimedDelivery(
            id=lease.id,
            key=lease.key,
            app=lease.app,
            action=lease.action,
            connector=lease.connector,
            attempts=lease.attempts,
            number=lease.number,
            lease_token=lease.lease_token,
            lease_expires_at=lease.lease_expires_at,
            decision=None if lease.decision_id is None else decisions[lease.decision_id],
            message=lease.message,
        )
        for lease in leases
    ]
    out.sort(key=lambda c: (c.decision.created_at if c.decision else c.lease_expires_at, c.id))
    return out


def finish(
    conn: sa.Connection,
    delivery_id: str,
    lease_token: str,
    result: AttemptResult,
    next_attempt_at: datetime | None,
    final_state: DeliveryState,
    now: datetime,
) -> bool:
    request = FinishRequest(delivery_id, lease_token, result, next_attempt_at, final_state)
    return finish_many(conn, [request], now)[0]


def finish_many(
    conn: sa.Connection, requests: Sequence[FinishRequest], now: datetime
) -> list[bool]:
    """End many attempts (in the caller's transaction); each moves its delivery only while its
    own lease is held and unexpired. Results in request order.

    Attempts that ended alike under one lease (typically: a claim's deliveries, all
    ``delivered`` with the same status) are written by one statement per table."""
    groups: dict[tuple[Any, ...], list[FinishRequest]] = {}
    for r in requests:
        if r.final_state not in _FINAL:
            raise StoreError(
                "An attempt ends in 'pending' (retry), 'delivered' or 'dead'; got "
                f"{r.final_state!r}."
            )
        if r.final_state == "pending" and r.next_attempt_at is None:
            raise StoreError("A retry ('pending') needs next_attempt_at: when to try again.")
        due = r.next_attempt_at if r.final_state == "pending" else None
        detail = (r.result.detail or "")[:DETAIL_CHARS]
        ending = (r.lease_token, r.final_state, due, r.result.outcome, r.result.status, detail)
        groups.setdefault(ending, []).append(r)
    applied: set[tuple[str, str]] = set()
    for (token, state, due, outcome, status, detail), group in groups.items():
        ids = [r.delivery_id for r in group]
        moved = conn.execute(
            _FINISH_DELIVERIES,
            {
                "ids": ids,
                "token": token,
                "now": now,
                "set_state": state,
                "set_due": due,
                "set_status": status,
                "set_detail": detail,
                "set_delivered_at": now if state == "delivered" else None,
            },
        ).scalars()
        done = set(moved)
        applied.update((i, token) for i in done)
        attempt = {"token": token, "now": now, "set_outcome": outcome, "set_status": status}
        if done:
            conn.execute(_FINISH_ATTEMPTS, {**attempt, "ids": list(done), "set_detail": detail})
        if late := [i for i in ids if i not in done]:
            note = f"{detail} (not applied: the lease had expired or was taken over)".strip()
            conn.execute(_FINISH_ATTEMPTS, {**attempt, "ids": late, "set_detail": note})
    return [(r.delivery_id, r.lease_token) in applied for r in requests]


# The statements are built once: building and compiling a SQLAlchemy statement costs more than
# running it on a few rows.


@functools.cache
def _claim_statement(dialect: str, *, by_app: bool, busy: bool = False) -> sa.Update:
    """``UPDATE deliveries … WHERE id IN (the oldest due ids) RETURNING …``; parameters
    ``now``, ``limit``, ``token``, ``expires``, and ``apps`` (``by_app``), ``busy`` (ids not to
    claim)."""
    due = deliveries.alias("due")
    now = sa.bindparam("now", type_=UTCDateTime())
    disabled = sa.select(connector_states.c.app).where(
        connector_states.c.app == due.c.app,
        connector_states.c.connector == due.c.connector,
        connector_states.c.disabled_at.is_not(None),
    )
    pick = (
        sa.select(due.c.id)
        .where(
            due.c.state.in_(("pending", "sending")),
            due.c.next_attempt_at <= now,
            ~sa.exists(disabled),
        )
        .order_by(due.c.next_attempt_at)
        .limit(sa.bindparam("limit", type_=sa.Integer()))
    )
    if by_app:
        pick = pick.where(due.c.app.in_(sa.bindparam("apps", expanding=True)))
    if busy:
        pick = pick.where(due.c.id.not_in(sa.bindparam("busy", expanding=True)))
    if dialect == "postgresql":
        pick = pick.with_for_update(skip_locked=True, of=due)
    expires = sa.bindparam("expires", type_=UTCDateTime())
    return (
        deliveries.update()
        .where(deliveries.c.id.in_(pick))
        .values(
            state="sending",
            lease_token=sa.bindparam("token", type_=sa.String()),
            lease_expires_at=expires,
            next_attempt_at=expires,
            attempts=deliveries.c.attempts + 1,
            updated_at=now,
        )
        .returning(
            deliveries.c.id,
            deliveries.c.decision_id,
            deliveries.c.key,
            deliveries.c.app,
            deliveries.c.action,
            deliveries.c.connector,
            deliveries.c.attempts,
            deliveries.c.message,
            _last_attempt_number(deliveries.c.id).label("last_number"),
        )
    )


def _last_attempt_number(delivery_id: sa.ColumnElement[str]) -> sa.ScalarSelect[int]:
    """The number of a delivery's last attempt; 0 before the first. (In a RETURNING clause,
    SQLAlchemy writes SQLite's column names without their tables; they stay unambiguous, as
    ``delivery_attempts`` has no ``id`` and ``deliveries`` no ``delivery_id``.)"""
    prior = delivery_attempts.alias("prior")
    return (
        sa.select(sa.func.coalesce(sa.func.max(prior.c.number), 0))
        .where(prior.c.delivery_id == delivery_id)
        .scalar_subquery()
    )


_IDS: sa.BindParameter[str] = sa.bindparam("ids", expanding=True)
_NOW = sa.bindparam("now", type_=UTCDateTime())
_TOKEN = sa.bindparam("token", type_=sa.String())

_EXPIRE_OPEN_ATTEMPTS = (
    delivery_attempts.update()
    .where(delivery_attempts.c.delivery_id.in_(_IDS), delivery_attempts.c.finished_at.is_(None))
    .values(outcome="expired", finished_at=_NOW, detail=sa.bindparam("takeover"))
)
_START_ATTEMPTS = delivery_attempts.insert().from_select(
    ["delivery_id", "number", "worker", "lease_token", "started_at"],
    sa.select(
        deliveries.c.id,
        _last_attempt_number(deliveries.c.id) + 1,
        sa.bindparam("worker", type_=sa.String()),
        _TOKEN,
        _NOW,
    ).where(deliveries.c.id.in_(_IDS)),
)
_FINISH_DELIVERIES = (
    deliveries.update()
    .where(
        deliveries.c.id.in_(_IDS),
        deliveries.c.lease_token == _TOKEN,
        deliveries.c.state == "sending",
        deliveries.c.lease_expires_at > _NOW,
    )
    .values(
        state=sa.bindparam("set_state", type_=sa.String()),
        lease_token=None,
        lease_expires_at=None,
        next_attempt_at=sa.bindparam("set_due", type_=UTCDateTime()),
        last_status=sa.bindparam("set_status", type_=sa.Integer()),
        last_detail=sa.bindparam("set_detail", type_=sa.Text()),
        updated_at=_NOW,
        delivered_at=sa.bindparam("set_delivered_at", type_=UTCDateTime()),
    )
    .returning(deliveries.c.id)
)
_FINISH_ATTEMPTS = (
    delivery_attempts.update()
    .where(delivery_attempts.c.delivery_id.in_(_IDS), delivery_attempts.c.lease_token == _TOKEN)
    .values(
        finished_at=_NOW,
        outcome=sa.bindparam("set_outcome", type_=sa.String()),
        status=sa.bindparam("set_status", type_=sa.Integer()),
        detail=sa.bindparam("set_detail", type_=sa.Text()),
    )
)
