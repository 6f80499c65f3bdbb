"""Exports of the audit chain's head (anchors): one per app and slot, whichever process gets
there first, recorded as an ``audit.anchored`` event and, when the export goes to a connector,
a delivery in the outbox (see :mod:`doorstep.services.governance.anchor`).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa

from doorstep.ids import new_id
from doorstep.store.audit import AuditWriter
from doorstep.store.tables import audit_events, deliveries

__all__ = ["ANCHORED", "record_anchor"]

ANCHORED = "audit.anchored"


def record_anchor(
    conn: sa.Connection,
    audit: AuditWriter,
    *,
    app: str,
    key: str,
    head: tuple[int, str],
    connector: str | None,
    message: dict[str, Any],
    actor: str,
    now: datetime,
) -> bool:
    """Record the export ``key`` of ``head`` (in the caller's write transaction, which holds
    the chain's lock): ``False`` when it was recorded already (another process was first)."""
    done = conn.execute(
        sa.select(audit_events.c.seq)
        .where(audit_events.c.subject == key, audit_events.c.kind == ANCHORED)
        .limit(1)
    ).first()
    if done is not None:
        return False
    seq, digest = head
    payload: dict[str, Any] = {"app": app, "seq": seq, "hash": digest, "connector": connector}
    if connector is not None:
        delivery_id = new_id()
        conn.execute(
            deliveries.insert().values(
                id=delivery_id,
                decision_id=None,
                app=app,
                action="audit_anchor",
                connector=connector,
                key=key,
                state="pending",
                attempts=0,
                next_attempt_at=now,
                created_at=now,
                updated_at=now,
                message=message,
            )
        )
        payload["delivery"] = delivery_id
    audit.append(ANCHORED, key, payload, actor=actor, at=now)
    return True
