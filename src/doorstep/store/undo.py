"""A verdict's deliveries, and taking a verdict back within its undo window.

A verdict given with ``hold_seconds`` releases (approve) or inserts (override) its deliveries
due only when the window closes, so no worker claims them before: the dispatcher claims nothing
whose ``next_attempt_at`` lies ahead. The ``review.recorded`` event names the deliveries the
verdict released, cancelled and added, and ``undo_until``; :func:`undo_review` puts exactly
those back (held again, or gone), deletes the review row, returns the decision to
``pending_review`` and records ``review.undone`` naming the event it takes back (``review_seq``),
all in one transaction. It refuses (``ReviewConflictError``) once the window has closed, or
when any of those deliveries moved on meanwhile (claimed by a worker, retried, cancelled).

``doorstep audit verify`` expects no review row for a ``review.recorded`` event that a
``review.undone`` event took back (:func:`undone_reviews`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from doorstep.errors import NotFoundError, ReviewConflictError
from doorstep.store import outbox as _outbox
from doorstep.store.audit import AuditWriter
from doorstep.store.protocols import Verdict
from doorstep.store.tables import audit_events, decisions, deliveries, reviews

__all__ = ["UNDONE_KIND", "apply_verdict", "undo_review", "undone_reviews"]

UNDONE_KIND = "review.undone"


def _ids(conn: sa.Connection, decision_id: str, *where: sa.ColumnElement[bool]) -> list[str]:
    return list(
        conn.execute(
            sa.select(deliveries.c.id)
            .where(deliveries.c.decision_id == decision_id, *where)
            .order_by(deliveries.c.id)
        ).scalars()
    )


def apply_verdict(
    conn: sa.Connection, verdict: Verdict, final_action: str, *, now: datetime, due: datetime
) -> dict[str, Any]:
    """Release, cancel or add the decision's deliveries (due at ``due``); returns what it did,
    by delivery id, for the verdict's audit event."""
    decision_id = verdict.decision_id
    held = _ids(conn, decision_id, deliveries.c.state == "held")
    if verdict.verdict == "approve":
        _outbox.release_held(conn, decision_id, now, due)
    else:
        note = f"cancelled: overridden to {final_action!r} by {verdict.actor}"
        added = [replace(r, next_attempt_at=due) for r in verdict.deliveries]
        _outbox.retarget_held(conn, decision_id, added, now, note, due)
    rows = conn.execute(
        sa.select(deliveries.c.id, deliveries.c.state).where(
            deliveries.c.decision_id == decision_id
        )
    )
    state: dict[str, str] = {row.id: row.state for row in rows}
    return {
        "released": [i for i in held if state.get(i) == "pending"],
        "cancelled": [i for i in held if state.get(i) == "cancelled"],
        "added": sorted(
            r.id for r in verdict.deliveries if state.get(r.id) == "pending" and r.id not in held
        ),
    }


def undo_review(
    conn: sa.Connection, audit: AuditWriter, decision_id: str, actor: str, now: datetime
) -> None:
    """Take back the verdict on ``decision_id`` (see the module docstring)."""
    review = conn.execute(sa.select(reviews).where(reviews.c.decision_id == decision_id)).first()
    if review is None:
        status = conn.execute(
            sa.select(decisions.c.status).where(decisions.c.id == decision_id)
        ).scalar_one_or_none()
        if status is None:
            raise NotFoundError(f"There is no decision {decision_id!r} whose verdict to undo.")
        raise ReviewConflictError(
            f"Decision {decision_id} has no verdict to undo (its status is {status!r})."
        )
    event = conn.execute(
        sa.select(audit_events.c.payload).where(audit_events.c.seq == review.audit_seq)
    ).scalar_one()
    until = event.get("undo_until")
    verb = "approved" if review.verdict == "approve" else f"overridden ({review.action})"
    given = f"{review.actor.removeprefix('key:')} {verb} it at {review.created_at:%H:%M:%S} UTC"
    if until is None or now >= datetime.fromisoformat(until):
        closed = (
            "its app has no undo window (policy.review_undo_seconds: 0)"
            if until is None
            else f"its undo window closed at {datetime.fromisoformat(until):%H:%M:%S} UTC"
        )
        raise ReviewConflictError(
            f"The verdict on this case can no longer be undone: {given}, and {closed}. Its "
            "action is on its way; to stop it, an owner can cancel its delivery."
        )
    moved = _restore(conn, event)
    if moved:
        raise ReviewConflictError(
            f"The verdict on this case cannot be undone: {given}, and its delivery {moved} has "
            "moved on since (sent, retried or cancelled). Nothing was changed."
        )
    conn.execute(
        decisions.update()
        .where(decisions.c.id == decision_id)
        .values(status="pending_review", final_action=None)
    )
    conn.execute(reviews.delete().where(reviews.c.id == review.id))
    payload = {
        "decision_id": decision_id,
        "review_id": review.id,
        "review_seq": review.audit_seq,
        "verdict": review.verdict,
        "action": review.action,
    }
    audit.append(UNDONE_KIND, decision_id, payload, actor=actor, at=now)


def _restore(conn: sa.Connection, event: dict[str, Any]) -> str | None:
    """Put the verdict's deliveries back as they were before it; the first one that moved on
    since (then the caller's transaction is rolled back), else ``None``."""
    fresh = (deliveries.c.attempts == 0, deliveries.c.state == "pending")
    for delivery_id in event.get("released", []):
        done = conn.execute(
            deliveries.update()
            .where(deliveries.c.id == delivery_id, *fresh)
            .values(state="held", next_attempt_at=None)
        ).rowcount
        if done != 1:
            return str(delivery_id)
    for delivery_id in event.get("cancelled", []):
        done = conn.execute(
            deliveries.update()
            .where(deliveries.c.id == delivery_id, deliveries.c.state == "cancelled")
            .values(state="held", next_attempt_at=None, last_detail=None)
        ).rowcount
        if done != 1:
            return str(delivery_id)
    for delivery_id in event.get("added", []):
        done = conn.execute(
            deliveries.delete().where(deliveries.c.id == delivery_id, *fresh)
        ).rowcount
        if done != 1:
            return str(delivery_id)
    return None


def undone_reviews(conn: sa.Connection, decision_ids: Iterable[str]) -> set[int]:
    """The seqs of ``review.recorded`` events that ``review.undone`` events of these decisions
    took back (their review rows are gone by design)."""
    wanted = sorted(set(decision_ids))
    if not wanted:
        return set()
    payloads = conn.execute(
        sa.select(audit_events.c.payload).where(
            audit_events.c.kind == UNDONE_KIND, audit_events.c.subject.in_(wanted)
        )
    ).scalars()
    return {int(p["review_seq"]) for p in payloads if p.get("review_seq") is not None}
