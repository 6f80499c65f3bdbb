"""Read-only summaries for the pages: an app's activity by day and its review backlog, its
activity feed (audit events), and the audit events about one decision."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa

from doorstep.store import decisions as _decisions
from doorstep.store import outbox_operations as _operations
from doorstep.store import queue as _queue
from doorstep.store.tables import (
    UTCDateTime,
    audit_events,
    decisions,
    deliveries,
    model_versions,
    reviews,
)
from doorstep.store.views import ActivityDay, AppActivity, AppEvent, AppEvents, DecisionCase
from doorstep.types import AuditEvent, Review

__all__ = ["AGE_BANDS", "app_activity", "app_events", "decision_audit", "review_of"]

PENDING = "pending_review"

AGE_BANDS: tuple[tuple[str, float, float | None], ...] = (
    ("< 1 h", 0, 1),
    ("1–4 h", 1, 4),
    ("4–24 h", 4, 24),
    ("1–3 d", 24, 72),
    ("> 3 d", 72, None),
)
"""Review backlog age bands: label, from and to (hours; ``None``: no upper end)."""


def _day(conn: sa.Connection, column: Any) -> sa.ColumnElement[str]:
    if conn.dialect.name == "postgresql":
        return sa.func.to_char(sa.func.timezone("UTC", column), "YYYY-MM-DD")
    # SQLite keeps UTC timestamps as text 'YYYY-MM-DD HH:MM:SS.ffffff'
    return sa.func.substr(sa.type_coerce(column, sa.String), 1, 10)


def app_activity(conn: sa.Connection, app: str, days: int, now: datetime) -> AppActivity:
    start = (now - timedelta(days=max(1, days) - 1)).replace(
        hour=0, minute=0, second=0, microsecond=0
    )
    labels = [(start + timedelta(days=i)).strftime("%Y-%m-%d") for i in range(max(1, days))]
    by_day: dict[str, ActivityDay] = {d: ActivityDay(d, {}, {}) for d in labels}
    day = _day(conn, decisions.c.created_at).label("day")
    action = sa.func.coalesce(decisions.c.final_action, decisions.c.action).label("action")
    rows = conn.execute(
        sa.select(day, action, sa.func.count().label("n"))
        .where(decisions.c.app == app, decisions.c.created_at >= start)
        .group_by(day, action)
    )
    for row in rows:
        if row.day in by_day:
            by_day[row.day].decisions[row.action] = int(row.n)
    review_day = _day(conn, reviews.c.created_at).label("day")
    rows = conn.execute(
        sa.select(review_day, reviews.c.verdict, sa.func.count().label("n"))
        .select_from(reviews.join(decisions, decisions.c.id == reviews.c.decision_id))
        .where(decisions.c.app == app, reviews.c.created_at >= start)
        .group_by(review_day, reviews.c.verdict)
    )
    reviewed = overridden = 0
    for row in rows:
        if row.day in by_day:
            by_day[row.day].reviews[row.verdict] = int(row.n)
        reviewed += int(row.n)
        overridden += int(row.n) if row.verdict == "override" else 0
    backlog, oldest, ages = _backlog(conn, app, now)
    return AppActivity(
        app=app,
        days=[by_day[d] for d in labels],
        backlog=backlog,
        oldest_pending=oldest,
        backlog_ages=ages,
        reviewed=reviewed,
        overridden=overridden,
    )


def _backlog(conn: sa.Connection, app: str, now: datetime) -> tuple[int, Any, dict[str, int]]:
    created = decisions.c.created_at
    columns: list[Any] = [sa.func.count().label("total"), sa.func.min(created).label("oldest")]
    for i, (_label, low, high) in enumerate(AGE_BANDS):
        newest = now - timedelta(hours=low)
        band = created <= newest
        if high is not None:
            band = sa.and_(band, created > now - timedelta(hours=high))
        columns.append(sa.func.sum(sa.case((band, 1), else_=0)).label(f"b{i}"))
    row = conn.execute(
        sa.select(*columns).where(decisions.c.app == app, decisions.c.status == PENDING)
    ).one()
    ages = {label: int(getattr(row, f"b{i}") or 0) for i, (label, _, _) in enumerate(AGE_BANDS)}
    oldest = row.oldest
    if isinstance(oldest, str):  # SQLite's MIN over the text column skips the type's processing
        oldest = UTCDateTime().process_result_value(datetime.fromisoformat(oldest), conn.dialect)
    return int(row.total), oldest, ages


def app_audit(conn: sa.Connection, app: str, kind_prefix: str, limit: int) -> list[AuditEvent]:
    """The latest ``limit`` events of ``app`` whose kind starts with ``kind_prefix``, oldest
    first: events whose subject is the app, or starts with ``app/`` or ``app:``."""

    def escaped(text: str) -> str:
        return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")

    subject = audit_events.c.subject
    rows = conn.execute(
        sa.select(audit_events)
        .where(
            audit_events.c.kind.like(escaped(kind_prefix) + "%", escape="\\"),
            sa.or_(
                subject == app,
                subject.like(escaped(app) + "/%", escape="\\"),
                subject.like(escaped(app) + ":%", escape="\\"),
            ),
        )
        .order_by(audit_events.c.seq.desc())
        .limit(limit)
    ).all()
    return [_event(row) for row in reversed(rows)]


def _event(row: Any) -> AuditEvent:
    return AuditEvent(
        seq=row.seq,
        at=row.at,
        actor=row.actor,
        kind=row.kind,
        subject=row.subject,
        payload=dict(row.payload),
    )


def decision_audit(conn: sa.Connection, decision_id: str) -> list[AuditEvent]:
    seqs = [
        conn.execute(
            sa.select(decisions.c.audit_seq).where(decisions.c.id == decision_id)
        ).scalar_one_or_none(),
        *conn.execute(
            sa.select(reviews.c.audit_seq).where(reviews.c.decision_id == decision_id)
        ).scalars(),
    ]
    delivery_ids = list(
        conn.execute(
            sa.select(deliveries.c.id).where(deliveries.c.decision_id == decision_id)
        ).scalars()
    )
    about = [audit_events.c.subject.in_([decision_id, *delivery_ids])]
    known = [s for s in seqs if s is not None]
    if known:
        about.append(audit_events.c.seq.in_(known))
    rows = conn.execute(sa.select(audit_events).where(sa.or_(*about)).order_by(audit_events.c.seq))
    return [_event(row) for row in rows]


FEED_SKIPS = ("decisions.recorded",)
"""Kinds the activity feed leaves out: the decisions themselves (the dashboard counts them)."""
FEED_BATCH = 500
FEED_SCAN = 20_000
"""Events read for one page of the feed at most: a page may end early when the app's events are
rare among many others (its ``before`` then goes on from there)."""


def app_events(
    conn: sa.Connection, app: str, *, before: int | None = None, limit: int = 50
) -> AppEvents:
    """The audit events about ``app``, newest first (see ``ActivityStore.app_events``): events
    whose payload names the app (``app``, ``apps``), whose subject is one of its decisions or
    deliveries or starts with its name, and the API keys' events. Read in batches by sequence
    number; which events belong to the app is decided here, not in SQL, because their payloads
    differ by kind."""
    limit = max(1, min(limit, 500))
    decision_of = sa.func.coalesce(decisions.c.id, deliveries.c.decision_id)
    about = decisions.alias("about")
    query = (
        sa.select(
            audit_events,
            sa.func.coalesce(decisions.c.app, deliveries.c.app).label("owner_app"),
            decision_of.label("decision_id"),
            about.c.entity_id,
        )
        .select_from(
            audit_events.outerjoin(decisions, decisions.c.id == audit_events.c.subject)
            .outerjoin(deliveries, deliveries.c.id == audit_events.c.subject)
            .outerjoin(about, about.c.id == decision_of)
        )
        .where(audit_events.c.kind.not_in(FEED_SKIPS))
        .order_by(audit_events.c.seq.desc())
        .limit(FEED_BATCH)
    )
    found: list[AppEvent] = []
    cursor, scanned = before, 0
    while len(found) < limit and scanned < FEED_SCAN:
        page = query if cursor is None else query.where(audit_events.c.seq < cursor)
        rows = conn.execute(page).all()
        for row in rows:
            cursor = row.seq
            if _about(row, app):
                event = AuditEvent(row.seq, row.at, row.actor, row.kind, row.subject, row.payload)
                found.append(AppEvent(event, row.entity_id, row.decision_id))
                if len(found) == limit:
                    break
        scanned += len(rows)
        if len(rows) < FEED_BATCH and len(found) < limit:
            return AppEvents(found, None)
    return AppEvents(found, cursor)


def _about(row: Any, app: str) -> bool:
    payload = row.payload if isinstance(row.payload, dict) else {}
    subject = str(row.subject)
    return (
        row.owner_app == app
        or payload.get("app") == app
        or app in (payload.get("apps") or ())
        or subject == app
        or subject.startswith((f"{app}:", f"{app}/"))
        or str(row.kind).startswith("key.")
    )


def review_of(conn: sa.Connection, decision_id: str) -> Review | None:
    """The verdict given on a decision, or ``None`` before one was given."""
    row = conn.execute(
        sa.select(
            reviews.c.verdict,
            reviews.c.action,
            reviews.c.reason,
            reviews.c.actor,
            reviews.c.created_at,
        ).where(reviews.c.decision_id == decision_id)
    ).first()
    if row is None:
        return None
    return Review(
        decision_id=decision_id,
        verdict=row.verdict,
        action=row.action,
        reason=row.reason,
        actor=row.actor,
        created_at=row.created_at,
    )


def decision_case(conn: sa.Connection, decision_id: str, now: datetime) -> DecisionCase | None:
    """One decision and everything its page shows (see :class:`DecisionCase`)."""
    decision = _decisions.get_decision(conn, decision_id)
    if decision is None:
        return None
    version = conn.execute(
        sa.select(model_versions).where(
            model_versions.c.app == decision.app,
            model_versions.c.version == decision.model_version,
        )
    ).first()
    pending = decision.status == "pending_review"
    return DecisionCase(
        decision=decision,
        deliveries=_operations.deliveries_of(conn, decision_id),
        model_version=dict(version._mapping) if version is not None else None,
        audit=decision_audit(conn, decision_id),
        review=review_of(conn, decision_id),
        claim=_queue.live_claims(conn, [decision_id], now).get(decision_id) if pending else None,
    )
