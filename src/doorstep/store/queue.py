"""The review queue and its claims: who works which pending case, so that two reviewers do not
work one. A claim lasts a while (the pages renew it), ends with the verdict or a release, and
is ignored once expired. Claims are operational state, like delivery leases: not audited."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa

from doorstep.errors import NotFoundError, ReviewClaimedError, ReviewConflictError
from doorstep.store.audit import AuditWriter
from doorstep.store.tables import decisions, review_claims
from doorstep.store.views import QueueEntry, QueuePage, QueueQuery, ReviewClaim

__all__ = ["check_claim", "claim", "drop_claim", "live_claims", "queue", "release", "skip"]

PENDING = "pending_review"
_MAX_LIMIT = 500


def _filters(query: QueueQuery, now: datetime) -> list[sa.ColumnElement[bool]]:
    where: list[sa.ColumnElement[bool]] = [decisions.c.status == PENDING]
    apps = list(query.apps)
    where.append(decisions.c.app == apps[0] if len(apps) == 1 else decisions.c.app.in_(apps))
    if query.action is not None:
        where.append(decisions.c.action == query.action)
    if query.older_than is not None:
        where.append(decisions.c.created_at < query.older_than)
    if query.newer_than is not None:
        where.append(decisions.c.created_at >= query.newer_than)
    if query.score_min is not None:
        where.append(decisions.c.score >= query.score_min)
    if query.score_max is not None:
        where.append(decisions.c.score < query.score_max)
    if query.entity_id:
        where.append(decisions.c.entity_id.startswith(query.entity_id, autoescape=True))
    live = (review_claims.c.decision_id == decisions.c.id) & (review_claims.c.expires_at > now)
    if query.claimed_by is not None:
        mine = live & (review_claims.c.key_id == query.claimed_by)
        where.append(sa.exists(sa.select(review_claims.c.decision_id).where(mine)))
    if query.unclaimed:
        where.append(~sa.exists(sa.select(review_claims.c.decision_id).where(live)))
    if query.overdue is not None:
        late = [
            (decisions.c.app == app) & (decisions.c.created_at < before)
            for app, before in query.overdue
        ]
        where.append(sa.or_(*late) if late else sa.false())
    return where


def queue(conn: sa.Connection, query: QueueQuery, now: datetime) -> QueuePage:
    if not query.apps:
        return QueuePage([], 0)
    where = _filters(query, now)
    if query.order == "score":
        order = [decisions.c.score.desc(), decisions.c.created_at, decisions.c.id]
    else:
        order = [decisions.c.created_at, decisions.c.id]
    limit = max(1, min(query.limit, _MAX_LIMIT))
    rows = conn.execute(
        sa.select(
            decisions.c.id,
            decisions.c.app,
            decisions.c.entity_id,
            decisions.c.score,
            decisions.c.action,
            decisions.c.rule,
            decisions.c.created_at,
            decisions.c.inputs,
            decisions.c.reasons,
        )
        .where(*where)
        .order_by(*order)
        .offset(max(0, query.offset))
        .limit(limit)
    ).all()
    total = int(
        conn.execute(sa.select(sa.func.count()).select_from(decisions).where(*where)).scalar_one()
    )
    claims = live_claims(conn, [r.id for r in rows], now)
    items = [
        QueueEntry(
            id=r.id,
            app=r.app,
            entity_id=r.entity_id,
            score=r.score,
            action=r.action,
            rule=r.rule,
            created_at=r.created_at,
            claim=claims.get(r.id),
            inputs=dict(r.inputs or {}),
            reasons=list(r.reasons or []),
        )
        for r in rows
    ]
    return QueuePage(items, total)


def _claim_of(row: Any) -> ReviewClaim:
    return ReviewClaim(
        decision_id=row.decision_id,
        key_id=row.key_id,
        actor=row.actor,
        claimed_at=row.claimed_at,
        expires_at=row.expires_at,
    )


def live_claims(conn: sa.Connection, ids: list[str], now: datetime) -> dict[str, ReviewClaim]:
    if not ids:
        return {}
    rows = conn.execute(
        sa.select(review_claims).where(
            review_claims.c.decision_id.in_(ids), review_claims.c.expires_at > now
        )
    )
    return {row.decision_id: _claim_of(row) for row in rows}


def _refuse(held: ReviewClaim) -> ReviewClaimedError:
    until = held.expires_at.strftime("%H:%M UTC")
    return ReviewClaimedError(
        f"Decision {held.decision_id} is claimed by {held.actor} until {until}: they work this "
        "case. Take another one from the queue, or wait until they release it or the claim "
        "expires."
    )


def check_claim(conn: sa.Connection, decision_id: str, key_id: str | None, now: datetime) -> None:
    """Raise :class:`ReviewClaimedError` when another key holds a live claim on the decision."""
    held = live_claims(conn, [decision_id], now).get(decision_id)
    if held is not None and held.key_id != key_id:
        raise _refuse(held)


def drop_claim(conn: sa.Connection, decision_id: str) -> None:
    conn.execute(review_claims.delete().where(review_claims.c.decision_id == decision_id))


def claim(
    conn: sa.Connection,
    decision_id: str,
    key_id: str,
    actor: str,
    expires_at: datetime,
    now: datetime,
) -> ReviewClaim:
    # the decision's row lock queues claimants of one case from other servers (PostgreSQL;
    # SQLite's writer lock already does): the next one then sees the claim made, not a
    # duplicate key
    status = conn.execute(
        sa.select(decisions.c.status).where(decisions.c.id == decision_id).with_for_update()
    ).scalar_one_or_none()
    if status is None:
        raise NotFoundError(f"There is no decision {decision_id!r} to claim.")
    if status != PENDING:
        raise ReviewConflictError(
            f"Decision {decision_id} is {status!r}, not 'pending_review': there is nothing left "
            "to review, so it cannot be claimed."
        )
    check_claim(conn, decision_id, key_id, now)
    drop_claim(conn, decision_id)
    held = ReviewClaim(decision_id, key_id, actor, now, expires_at)
    conn.execute(
        review_claims.insert().values(
            decision_id=decision_id,
            key_id=key_id,
            actor=actor,
            claimed_at=now,
            expires_at=expires_at,
        )
    )
    return held


def release(conn: sa.Connection, decision_id: str, key_id: str, now: datetime) -> bool:
    check_claim(conn, decision_id, key_id, now)
    return bool(
        conn.execute(
            review_claims.delete().where(review_claims.c.decision_id == decision_id)
        ).rowcount
    )


def skip(
    conn: sa.Connection,
    audit: AuditWriter,
    decision_id: str,
    key_id: str,
    actor: str,
    now: datetime,
) -> bool:
    """Put a pending case back in the queue (dropping this key's claim) and record the skip as
    a ``review.skipped`` event; ``False``, with nothing recorded, when it is no longer pending."""
    status = conn.execute(
        sa.select(decisions.c.status).where(decisions.c.id == decision_id)
    ).scalar_one_or_none()
    if status is None:
        raise NotFoundError(f"There is no decision {decision_id!r} to skip.")
    if status != PENDING:
        return False
    check_claim(conn, decision_id, key_id, now)
    drop_claim(conn, decision_id)
    audit.append("review.skipped", decision_id, {"key": key_id}, actor=actor, at=now)
    return True
