"""Alert state: one row per app and subject (``drift.<feature>``, ``drift.score``,
``quality.<metric>``), and the transitions that change it (see ``services/monitor/alerts.py``).

A transition is computed from the state as read, then applied only if the row still has the
``version`` it was computed from (a compare-and-set), in one transaction with its outbox rows
(the messages, keyed by breach and transition) and its audit event. Two monitors that judge the
same window at once (``doorstep monitor --alert`` beside ``serve``) therefore raise a breach once:
the second finds the row changed and writes nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from doorstep.store.audit import AuditWriter
from doorstep.store.tables import alert_states, deliveries

__all__ = ["AlertMessage", "AlertState", "AlertTransition", "apply_transitions", "read_states"]


@dataclass(frozen=True)
class AlertState:
    """A subject's state as stored."""

    app: str
    subject: str
    kind: str
    status: str
    """``ok`` (no open breach), ``warn`` or ``alert``."""
    breach_id: str | None
    version: int
    opened_at: datetime | None
    updated_at: datetime
    window_start: datetime | None
    value: float | None
    threshold: float | None
    retrain_at: datetime | None
    detail: dict[str, Any] | None


@dataclass(frozen=True)
class AlertMessage:
    """One outbox row for a transition: a ready message to one connector."""

    id: str
    key: str
    """Stable per breach, transition and connector: sent as ``webhook-id``."""
    action: str
    """What the row says in ``doorstep deliveries list``, e.g. ``alert.raised``."""
    connector: str
    message: dict[str, Any]
    """``{"context": ..., "payload": ..., "text": ...}``."""


@dataclass(frozen=True)
class AlertTransition:
    """A change of one subject's state, with what it sends and records."""

    app: str
    subject: str
    kind: str
    expected_version: int | None
    """The version it was computed from; ``None``: the subject has no row yet."""
    values: dict[str, Any]
    """The row's new columns (``status``, ``breach_id``, ``opened_at``, ...)."""
    event: str
    """Audit event kind, e.g. ``alert.raised``."""
    payload: dict[str, Any]
    messages: list[AlertMessage] = field(default_factory=list)


def _state(row: Any) -> AlertState:
    return AlertState(
        app=row.app,
        subject=row.subject,
        kind=row.kind,
        status=row.status,
        breach_id=row.breach_id,
        version=row.version,
        opened_at=row.opened_at,
        updated_at=row.updated_at,
        window_start=row.window_start,
        value=row.value,
        threshold=row.threshold,
        retrain_at=row.retrain_at,
        detail=row.detail,
    )


def read_states(conn: sa.Connection, app: str) -> dict[str, AlertState]:
    rows = conn.execute(
        sa.select(alert_states).where(alert_states.c.app == app).order_by(alert_states.c.subject)
    )
    return {row.subject: _state(row) for row in rows}


def apply_transitions(
    conn: sa.Connection,
    audit: AuditWriter,
    transitions: Sequence[AlertTransition],
    actor: str,
    now: datetime,
) -> list[AlertTransition]:
    """Apply each transition whose row is still at its expected version (in the caller's
    transaction); returns those applied. Their messages go to the outbox, due now."""
    applied: list[AlertTransition] = []
    for change in transitions:
        if not _write_state(conn, change, now):
            continue
        if change.messages:
            conn.execute(
                deliveries.insert(),
                [
                    {
                        "id": m.id,
                        "decision_id": None,
                        "app": change.app,
                        "action": m.action,
                        "connector": m.connector,
                        "key": m.key,
                        "state": "pending",
                        "attempts": 0,
                        "next_attempt_at": now,
                        "created_at": now,
                        "updated_at": now,
                        "message": m.message,
                    }
                    for m in change.messages
                ],
            )
        payload = {**change.payload, "deliveries": [m.id for m in change.messages]}
        audit.append(change.event, f"{change.app}:{change.subject}", payload, actor=actor, at=now)
        applied.append(change)
    return applied


def _write_state(conn: sa.Connection, change: AlertTransition, now: datetime) -> bool:
    values = {**change.values, "updated_at": now}
    if change.expected_version is None:
        insert = postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
        made = conn.execute(
            insert(alert_states)
            .values(app=change.app, subject=change.subject, kind=change.kind, version=1, **values)
            .on_conflict_do_nothing()
            .returning(alert_states.c.subject)
        ).first()
        return made is not None
    return bool(
        conn.execute(
            alert_states.update()
            .where(
                alert_states.c.app == change.app,
                alert_states.c.subject == change.subject,
                alert_states.c.version == change.expected_version,
            )
            .values(version=change.expected_version + 1, **values)
        ).rowcount
        == 1
    )
