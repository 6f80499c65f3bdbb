"""The outbox's queue mechanics: deliveries written with their decisions, released or re-targeted
by a verdict, claimed under leases, finished once.

A claim is one statement: ``UPDATE deliveries SET state = 'sending', lease_token = …,
attempts = attempts + 1 WHERE id IN (SELECT id … FOR UPDATE SKIP LOCKED) RETURNING …`` on
PostgreSQL, so concurrent workers skip each other's rows instead of waiting on them; on SQLite
(>= 3.35 for ``RETURNING``) the same statement runs under the single writer lock that
``BEGIN IMMEDIATE`` takes. While a delivery is ``sending``, ``next_attempt_at`` holds its lease
expiry, so that one index on ``(state, next_attempt_at)`` finds both due and abandoned rows.
Operators' reads and changes are in :mod:`doorstep.store.deliveries`.
"""

from __future__ import annotations

import secrets
import sqlite3
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa

from doorstep.errors import StoreError
from doorstep.store import decisions as _decisions  # a cycle: used at call time only
from doorstep.store.contract import (
    AttemptResult,
    ClaimedDelivery,
    DeliveryRecord,
    DeliveryState,
)
from doorstep.store.tables import connector_states, deliveries, delivery_attempts

__all__ = ["MIN_SQLITE", "claim", "finish", "insert_deliveries", "release_held", "retarget_held"]

DETAIL_CHARS = 2000
"""Longest attempt detail kept."""
MIN_SQLITE = (3, 35, 0)
_FINAL: frozenset[str] = frozenset({"pending", "delivered", "dead"})


def _rows(record: DeliveryRecord) -> dict[str, Any]:
    if record.state not in ("held", "pending"):
        raise StoreError(
            f"A new delivery must be 'held' or 'pending'; got {record.state!r} for {record.key}."
        )
    due = None
    if record.state == "pending":
        due = record.next_attempt_at or record.created_at
    return {
        "id": record.id,
        "decision_id": record.decision_id,
        "app": record.app,
        "action": record.action,
        "connector": record.connector,
        "key": record.key,
        "state": record.state,
        "attempts": 0,
        "next_attempt_at": due,
        "created_at": record.created_at,
        "updated_at": record.created_at,
    }


def insert_deliveries(conn: sa.Connection, records: Sequence[DeliveryRecord]) -> None:
    """Insert new outbox rows (in the caller's transaction)."""
    if records:
        conn.execute(deliveries.insert(), [_rows(r) for r in records])


def release_held(conn: sa.Connection, decision_id: str, now: datetime) -> int:
    """An approved decision: its held deliveries are due now."""
    return conn.execute(
        deliveries.update()
        .where(deliveries.c.decision_id == decision_id, deliveries.c.state == "held")
        .values(state="pending", next_attempt_at=now, updated_at=now)
    ).rowcount


def retarget_held(
    conn: sa.Connection,
    decision_id: str,
    replacements: Sequence[DeliveryRecord],
    now: datetime,
    note: str,
) -> None:
    """An overridden decision: held deliveries of other actions are cancelled (with ``note``),
    one of the same key is released, and the new action's deliveries are inserted."""
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
        .values(state="pending", next_attempt_at=now, updated_at=now)
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


def claim(
    conn: sa.Connection,
    worker: str,
    limit: int,
    lease_seconds: float,
    apps: Sequence[str] | None,
    now: datetime,
) -> list[ClaimedDelivery]:
    if limit <= 0:
        return []
    if lease_seconds <= 0:
        raise StoreError(f"The lease must last more than 0 seconds; got {lease_seconds}.")
    _check_sqlite(conn)
    token = secrets.token_hex(16)
    expires = now + timedelta(seconds=lease_seconds)
    due = deliveries.alias("due")
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
        .limit(limit)
    )
    if apps is not None:
        pick = pick.where(due.c.app.in_(list(apps)))
    if conn.dialect.name == "postgresql":
        pick = pick.with_for_update(skip_locked=True, of=due)
    claimed = conn.execute(
        deliveries.update()
        .where(deliveries.c.id.in_(pick))
        .values(
            state="sending",
            lease_token=token,
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
            deliveries.c.next_attempt_at,
        )
    ).all()
    if not claimed:
        return []
    ids = [row.id for row in claimed]
    # an attempt still open belongs to a worker whose lease ran out: it is taken over now
    conn.execute(
        delivery_attempts.update()
        .where(delivery_attempts.c.delivery_id.in_(ids), delivery_attempts.c.finished_at.is_(None))
        .values(
            outcome="expired",
            finished_at=now,
            detail=f"the lease expired before this worker finished; taken over by {worker}",
        )
    )
    last = dict(
        conn.execute(
            sa.select(delivery_attempts.c.delivery_id, sa.func.max(delivery_attempts.c.number))
            .where(delivery_attempts.c.delivery_id.in_(ids))
            .group_by(delivery_attempts.c.delivery_id)
        ).all()
    )
    numbers = {i: int(last.get(i) or 0) + 1 for i in ids}
    conn.execute(
        delivery_attempts.insert(),
        [
            {
                "delivery_id": i,
                "number": numbers[i],
                "worker": worker,
                "lease_token": token,
                "started_at": now,
            }
            for i in ids
        ],
    )
    decisions = _decisions.get_decisions(conn, {row.decision_id for row in claimed})
    out = [
        ClaimedDelivery(
            id=row.id,
            key=row.key,
            app=row.app,
            action=row.action,
            connector=row.connector,
            attempts=row.attempts,
            number=numbers[row.id],
            lease_token=token,
            lease_expires_at=expires,
            decision=decisions[row.decision_id],
        )
        for row in claimed
    ]
    out.sort(key=lambda c: (c.decision.created_at, c.id))
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
    if final_state not in _FINAL:
        raise StoreError(
            f"An attempt ends in 'pending' (retry), 'delivered' or 'dead'; got {final_state!r}."
        )
    if final_state == "pending" and next_attempt_at is None:
        raise StoreError("A retry ('pending') needs next_attempt_at: when to try again.")
    detail = (result.detail or "")[:DETAIL_CHARS]
    changed = conn.execute(
        deliveries.update()
        .where(
            deliveries.c.id == delivery_id,
            deliveries.c.lease_token == lease_token,
            deliveries.c.state == "sending",
            deliveries.c.lease_expires_at > now,
        )
        .values(
            state=final_state,
            lease_token=None,
            lease_expires_at=None,
            next_attempt_at=next_attempt_at if final_state == "pending" else None,
            last_status=result.status,
            last_detail=detail,
            updated_at=now,
            delivered_at=now if final_state == "delivered" else None,
        )
    ).rowcount
    if changed != 1:
        detail = f"{detail} (not applied: the lease had expired or was taken over)".strip()
    conn.execute(
        delivery_attempts.update()
        .where(
            delivery_attempts.c.delivery_id == delivery_id,
            delivery_attempts.c.lease_token == lease_token,
        )
        .values(finished_at=now, outcome=result.outcome, status=result.status, detail=detail)
    )
    return changed == 1
