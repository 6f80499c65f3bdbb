"""The outbox for operators: list and read deliveries with their attempts, re-drive or cancel
them, disable and enable connectors, count by state. The queue itself (inserts, claims,
attempts) is :mod:`doorstep.store.outbox`."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from doorstep.store.audit import AuditWriter
from doorstep.store.cursor import decode_cursor, encode_cursor
from doorstep.store.outbox import DETAIL_CHARS
from doorstep.store.protocols import ConnectorState, DeliveryChanges, DeliveryPage, DeliveryQuery
from doorstep.store.tables import connector_states, deliveries, delivery_attempts
from doorstep.types import DELIVERY_STATES, Delivery, DeliveryAttempt

__all__ = [
    "cancel",
    "counts",
    "deliveries_of",
    "disable_connector",
    "disabled_connectors",
    "enable_connector",
    "get_delivery",
    "list_deliveries",
    "retry",
]

_MAX_LIMIT = 1000
_RETRYABLE: frozenset[str] = frozenset({"dead", "cancelled"})
_CANCELLABLE: frozenset[str] = frozenset({"held", "pending", "dead"})


def _info(row: Any, history: Iterable[Any] = ()) -> Delivery:
    return Delivery(
        id=row.id,
        decision_id=row.decision_id,
        app=row.app,
        action=row.action,
        connector=row.connector,
        key=row.key,
        state=row.state,
        attempts=row.attempts,
        next_attempt_at=row.next_attempt_at,
        lease_expires_at=row.lease_expires_at,
        last_status=row.last_status,
        last_detail=row.last_detail,
        created_at=row.created_at,
        updated_at=row.updated_at,
        delivered_at=row.delivered_at,
        history=tuple(
            DeliveryAttempt(
                number=a.number,
                worker=a.worker,
                started_at=a.started_at,
                finished_at=a.finished_at,
                outcome=a.outcome,
                status=a.status,
                detail=a.detail,
            )
            for a in history
        ),
    )


_COLUMNS = [c for c in deliveries.c if c.name not in ("lease_token", "message")]


def get_delivery(conn: sa.Connection, delivery_id: str) -> Delivery | None:
    row = conn.execute(sa.select(*_COLUMNS).where(deliveries.c.id == delivery_id)).first()
    if row is None:
        return None
    history = conn.execute(
        sa.select(delivery_attempts)
        .where(delivery_attempts.c.delivery_id == delivery_id)
        .order_by(delivery_attempts.c.number)
    ).all()
    return _info(row, history)


def deliveries_of(conn: sa.Connection, decision_id: str) -> list[Delivery]:
    """A decision's deliveries, newest first, each with its attempts: two queries in all."""
    rows = conn.execute(
        sa.select(*_COLUMNS)
        .where(deliveries.c.decision_id == decision_id)
        .order_by(deliveries.c.created_at.desc(), deliveries.c.id.desc())
    ).all()
    if not rows:
        return []
    attempts: dict[str, list[Any]] = {row.id: [] for row in rows}
    for attempt in conn.execute(
        sa.select(delivery_attempts)
        .where(delivery_attempts.c.delivery_id.in_(list(attempts)))
        .order_by(delivery_attempts.c.delivery_id, delivery_attempts.c.number)
    ):
        attempts[attempt.delivery_id].append(attempt)
    return [_info(row, attempts[row.id]) for row in rows]


def list_deliveries(conn: sa.Connection, query: DeliveryQuery) -> DeliveryPage:
    limit = max(1, min(query.limit, _MAX_LIMIT))
    where: list[sa.ColumnElement[bool]] = []
    for column, value in (
        (deliveries.c.app, query.app),
        (deliveries.c.state, query.state),
        (deliveries.c.connector, query.connector),
        (deliveries.c.decision_id, query.decision_id),
    ):
        if value is not None:
            where.append(column == value)
    if query.cursor:
        at, last_id = decode_cursor(query.cursor)
        where.append(
            sa.or_(
                deliveries.c.created_at < at,
                sa.and_(deliveries.c.created_at == at, deliveries.c.id < last_id),
            )
        )
    rows = conn.execute(
        sa.select(*_COLUMNS)
        .where(*where)
        .order_by(deliveries.c.created_at.desc(), deliveries.c.id.desc())
        .limit(limit + 1)
    ).all()
    page = rows[:limit]
    attempts: dict[str, list[Any]] = {row.id: [] for row in page}
    if query.attempts and page:
        for attempt in conn.execute(
            sa.select(delivery_attempts)
            .where(delivery_attempts.c.delivery_id.in_(list(attempts)))
            .order_by(delivery_attempts.c.delivery_id, delivery_attempts.c.number)
        ):
            attempts[attempt.delivery_id].append(attempt)
    items = [_info(row, attempts[row.id]) for row in page]
    next_cursor = None
    if len(rows) > limit:
        next_cursor = encode_cursor(items[-1].created_at, items[-1].id)
    return DeliveryPage(items=items, next_cursor=next_cursor)


def _change(
    conn: sa.Connection,
    audit: AuditWriter,
    ids: Sequence[str],
    allowed: frozenset[str],
    values: dict[str, Any],
    kind: str,
    actor: str,
    reason: str | None = None,
) -> DeliveryChanges:
    unique = list(dict.fromkeys(ids))
    if not unique:
        return DeliveryChanges([], {}, [])
    found = {
        row.id: row
        for row in conn.execute(
            sa.select(deliveries.c.id, deliveries.c.state, deliveries.c.app).where(
                deliveries.c.id.in_(unique)
            )
        )
    }
    changed = [i for i in unique if i in found and found[i].state in allowed]
    skipped = {i: found[i].state for i in unique if i in found and found[i].state not in allowed}
    missing = [i for i in unique if i not in found]
    if changed:
        conn.execute(
            deliveries.update()
            .where(deliveries.c.id.in_(changed), deliveries.c.state.in_(sorted(allowed)))
            .values(**values)
        )
        apps = sorted({found[i].app for i in changed})
        subject = changed[0] if len(changed) == 1 else (apps[0] if len(apps) == 1 else "*")
        payload: dict[str, Any] = {"ids": changed, "count": len(changed), "apps": apps}
        if reason is not None:
            payload["reason"] = reason
        audit.append(kind, subject, payload, actor=actor, at=values["updated_at"])
    return DeliveryChanges(changed, skipped, missing)


def retry(
    conn: sa.Connection,
    audit: AuditWriter,
    ids: Sequence[str],
    actor: str,
    now: datetime,
    reason: str | None = None,
) -> DeliveryChanges:
    values = {
        "state": "pending",
        "attempts": 0,
        "next_attempt_at": now,
        "lease_token": None,
        "lease_expires_at": None,
        "updated_at": now,
    }
    return _change(conn, audit, ids, _RETRYABLE, values, "deliveries.retried", actor, reason)


def cancel(
    conn: sa.Connection,
    audit: AuditWriter,
    ids: Sequence[str],
    actor: str,
    now: datetime,
    reason: str | None = None,
) -> DeliveryChanges:
    values = {
        "state": "cancelled",
        "next_attempt_at": None,
        "updated_at": now,
        "last_detail": f"cancelled by {actor}" + (f": {reason}" if reason else ""),
    }
    return _change(conn, audit, ids, _CANCELLABLE, values, "deliveries.cancelled", actor, reason)


def disable_connector(
    conn: sa.Connection,
    audit: AuditWriter,
    app: str,
    connector: str,
    detail: str,
    actor: str,
    now: datetime,
) -> bool:
    key = connector_states.c.app == app, connector_states.c.connector == connector
    row = conn.execute(sa.select(connector_states.c.disabled_at).where(*key)).first()
    if row is not None and row.disabled_at is not None:
        return False
    values = {"disabled_at": now, "detail": detail[:DETAIL_CHARS]}
    if row is None:
        conn.execute(connector_states.insert().values(app=app, connector=connector, **values))
    else:
        conn.execute(connector_states.update().where(*key).values(**values))
    payload = {"app": app, "connector": connector, "detail": values["detail"]}
    audit.append("connector.disabled", f"{app}/{connector}", payload, actor=actor, at=now)
    return True


def enable_connector(
    conn: sa.Connection, audit: AuditWriter, app: str, connector: str, actor: str, now: datetime
) -> bool:
    changed = conn.execute(
        connector_states.update()
        .where(
            connector_states.c.app == app,
            connector_states.c.connector == connector,
            connector_states.c.disabled_at.is_not(None),
        )
        .values(disabled_at=None)
    ).rowcount
    if changed:
        payload = {"app": app, "connector": connector}
        audit.append("connector.enabled", f"{app}/{connector}", payload, actor=actor, at=now)
    return bool(changed)


def disabled_connectors(conn: sa.Connection, app: str | None) -> list[ConnectorState]:
    query = (
        sa.select(connector_states)
        .where(connector_states.c.disabled_at.is_not(None))
        .order_by(connector_states.c.app, connector_states.c.connector)
    )
    if app is not None:
        query = query.where(connector_states.c.app == app)
    return [
        ConnectorState(r.app, r.connector, r.disabled_at, r.detail) for r in conn.execute(query)
    ]


def counts(conn: sa.Connection, app: str | None) -> dict[str, int]:
    query = sa.select(deliveries.c.state, sa.func.count()).group_by(deliveries.c.state)
    if app is not None:
        query = query.where(deliveries.c.app == app)
    found: dict[str, int] = {state: n for state, n in conn.execute(query).all()}
    return {state: int(found.get(state, 0)) for state in DELIVERY_STATES}
