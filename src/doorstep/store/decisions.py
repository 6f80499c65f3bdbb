"""Decisions and reviews: the hot write path, reads and keyset pagination."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from functools import cache
from itertools import repeat
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from doorstep.errors import NotFoundError, ReviewConflictError, StoreError
from doorstep.ids import new_id
from doorstep.store import outbox as _outbox
from doorstep.store import queue as _queue
from doorstep.store import undo as _undo
from doorstep.store.audit import AuditWriter, RowDigest, decision_fields, review_fields
from doorstep.store.bulk import DbTimes, insert_rows
from doorstep.store.canonical import dump_json, iso
from doorstep.store.cursor import decode_cursor, encode_cursor
from doorstep.store.decision_rows import DecisionRows, prepare_rows
from doorstep.store.protocols import (
    DecisionPage,
    DecisionQuery,
    DeliveryRecord,
    RecordOutcome,
    RecordRequest,
    Verdict,
)
from doorstep.store.rejects import RejectRecord, insert_rejects
from doorstep.store.shadow import insert_shadow
from doorstep.store.shadow_records import ShadowDecision
from doorstep.store.tables import decisions, idempotency, reviews
from doorstep.types import Decision, DecisionStatus

__all__ = ["get_decision", "get_decisions", "list_decisions", "record", "review"]

_MAX_LIMIT = 1000


@cache
def _claim_statement(dialect: str) -> Any:
    """The claim's INSERT, built once per dialect (building it per call cost ~1.5 ms of
    SQLAlchemy work). Executed with many rows, SQLAlchemy sends them as multi-row ``VALUES``;
    the ``RETURNING`` tells which keys this transaction took."""
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    return (
        insert(idempotency).on_conflict_do_nothing().returning(idempotency.c.app, idempotency.c.key)
    )


def _claim(
    conn: sa.Connection, requests: list[RecordRequest], apps: list[str]
) -> list[RecordOutcome | None]:
    """Insert the idempotency rows of all keyed requests in one statement; per request,
    ``None`` when it may go ahead, else its replay or conflict (one more query reads the keys
    taken before). Rows go in (app, key) order, so two servers claiming overlapping keys wait
    on each other rather than deadlock: a concurrent claimant of a key waits on the unique key
    until the first commits (PostgreSQL) or on the write lock (SQLite), then replays it. A key
    twice in one call is claimed by its first request; the later ones replay it or conflict."""
    outcomes: list[RecordOutcome | None] = [None] * len(requests)
    first: dict[tuple[str, str], int] = {}
    for index, request in enumerate(requests):
        if request.idempotency_key is not None:
            first.setdefault((apps[index], request.idempotency_key), index)
    if not first:
        return outcomes
    now = datetime.now(UTC)
    values = [
        {
            "app": app,
            "key": key,
            "body_sha256": requests[index].body_sha256 or "",
            "response": requests[index].response,
            "created_at": now,
        }
        for (app, key), index in sorted(first.items())
    ]
    taken = {(r.app, r.key) for r in conn.execute(_claim_statement(conn.dialect.name), values)}
    stored: dict[tuple[str, str], tuple[str, bytes | None]] = {}
    before: dict[str, list[str]] = {}
    for app, key in first:
        if (app, key) not in taken:
            before.setdefault(app, []).append(key)
    for app, keys in before.items():
        for start in range(0, len(keys), 500):
            rows = conn.execute(
                sa.select(
                    idempotency.c.key, idempotency.c.body_sha256, idempotency.c.response
                ).where(idempotency.c.app == app, idempotency.c.key.in_(keys[start : start + 500]))
            )
            stored.update({(app, row.key): (row.body_sha256, row.response) for row in rows})
    for (app, key), owner in first.items():  # claimed now: the first request's body counts
        if (app, key) in taken:
            stored[(app, key)] = (requests[owner].body_sha256 or "", requests[owner].response)
    for index, request in enumerate(requests):
        if request.idempotency_key is None:
            continue
        app_key = (apps[index], request.idempotency_key)
        if first[app_key] == index and app_key in taken:
            continue  # claimed
        body_sha256, response = stored[app_key]
        if body_sha256 == (request.body_sha256 or ""):
            outcomes[index] = RecordOutcome("replayed", response)
        else:
            outcomes[index] = RecordOutcome("conflict")
    return outcomes


_INSERT_COLUMNS = [
    "id", "app", "entity_id", "model_version", "model_hash", "inputs", "score",
    "predicted_class", "action", "rule", "review", "control", "status", "final_action",
    "reasons", "reasons_text", "created_at", "lineage", "audit_seq",
]  # fmt: skip
_PLAIN_COLUMNS = [c for c in _INSERT_COLUMNS if c != "lineage"]
"""Rows of apps without feature sources leave ``lineage`` out (null)."""


def _prepare(
    decisions_: list[Decision], times: DbTimes, *, lineage: bool
) -> tuple[list[tuple[Any, ...]], RowDigest]:
    """The rows to insert (without their ``audit_seq``), in id order, and their digest. The hot
    path skips SQLAlchemy's per-row type processing: rows are tuples of driver values, JSON
    already serialised (once, shared with the audit digest), times converted once per batch."""
    rows: list[tuple[Any, ...]] = []
    digest = RowDigest()
    add = digest.add
    created_iso: dict[datetime, str] = {}
    for decision in sorted(decisions_, key=lambda d: d.id):
        inputs_json = dump_json(decision.inputs)
        reasons_json = None if decision.reasons is None else dump_json(decision.reasons)
        lineage_json = None if decision.lineage is None else dump_json(decision.lineage)
        created = decision.created_at
        stamp = created_iso.get(created)
        if stamp is None:
            stamp = created_iso[created] = iso(created)
        fields = decision_fields(decision, created=stamp)
        if lineage_json is None:
            add(decision.id, fields, inputs_json, reasons_json)
        else:
            add(decision.id, fields, inputs_json, reasons_json, lineage_json)
        row = (
            decision.id,
            decision.app,
            decision.entity_id,
            decision.model_version,
            decision.model_hash,
            inputs_json,
            float(decision.score),
            decision.predicted_class,
            decision.action,
            decision.rule,
            bool(decision.review),
            bool(decision.control),
            decision.status,
            decision.final_action,
            reasons_json,
            decision.reasons_text,
            times(created),
        )
        rows.append((*row, lineage_json) if lineage else row)
    return rows, digest


def record(
    conn: sa.Connection,
    audit: AuditWriter,
    requests: list[RecordRequest],
    actor: str,
    *,
    one_event: bool = False,
) -> list[RecordOutcome]:
    """Claim the keys, write the decisions, deliveries, shadow decisions and rejects of many
    requests. One audit event per request, or with ``one_event`` one per app for all of them
    (a stream's micro-batch: its messages are requests of their own only for their keys)."""
    outcomes: list[RecordOutcome] = []
    rows: list[tuple[Any, ...]] = []
    outbox: list[DeliveryRecord] = []
    shadow: list[ShadowDecision] = []
    refused: list[RejectRecord] = []
    times = DbTimes(conn.dialect.name)
    lineage = any(d.lineage is not None for r in requests for d in r.decisions) or any(
        r.rows is not None and r.rows.has_lineage for r in requests
    )
    apps = [r.app or (r.decisions[0].app if r.decisions else "") for r in requests]
    claims = _claim(conn, requests, apps)
    together: dict[str, list[Decision]] = {}
    for request, app, claim in zip(requests, apps, claims, strict=True):
        if claim is not None:
            outcomes.append(claim)
            continue
        refused.extend(request.rejects)
        outcomes.append(RecordOutcome("recorded", request.response))
        columns = request.rows
        if columns is not None and request.decisions:
            raise StoreError(
                "A request carries its decisions as objects or as rows, not both; "
                f"got {len(request.decisions)} and {len(columns)}."
            )
        count = request.decision_count()
        if not count and request.rejects and request.idempotency_key is None:
            continue  # refused records only: kept, nothing decided to audit
        outbox.extend(_own_deliveries(request))
        shadow.extend(request.shadow)
        if one_event:
            decided = request.decisions if columns is None else columns.decisions()
            together.setdefault(app, []).extend(decided)
            continue
        if columns is not None:
            subject = columns.ids[0] if count == 1 else app
            rows.extend(_audited_rows(audit, app, subject, columns, times, lineage, actor))
            continue
        subject = request.decisions[0].id if len(request.decisions) == 1 else app
        rows.extend(_audited(audit, app, subject, request.decisions, times, lineage, actor))
    for app, decided in together.items():
        if decided:
            subject = decided[0].id if len(decided) == 1 else app
            rows.extend(_audited(audit, app, subject, decided, times, lineage, actor))
    insert_rows(conn, "decisions", _INSERT_COLUMNS if lineage else _PLAIN_COLUMNS, rows)
    # after their decisions (foreign key), in the same transaction: both or neither
    _outbox.insert_deliveries(conn, outbox, times)
    insert_shadow(conn, shadow)
    insert_rejects(conn, refused)
    return outcomes


def _audited(
    audit: AuditWriter,
    app: str,
    subject: str,
    decided: list[Decision],
    times: DbTimes,
    lineage: bool,
    actor: str,
) -> list[tuple[Any, ...]]:
    """The rows of ``decided`` with the seq of the one event that vouches for them: built
    column-wise (:func:`prepare_rows`) when they are fresh decisions of ``app``, else one by
    one (:func:`_prepare`; the same rows and digest)."""
    if all(d.app == app and d.final_action is None for d in decided):
        columns = DecisionRows.of(app, decided)
        return _audited_rows(audit, app, subject, columns, times, lineage, actor)
    prepared, digest = _prepare(decided, times, lineage=lineage)
    seq = audit.append("decisions.recorded", subject, {"app": app, **digest.payload()}, actor=actor)
    return [(*row, seq) for row in prepared]


def _audited_rows(
    audit: AuditWriter,
    app: str,
    subject: str,
    decided: DecisionRows,
    times: DbTimes,
    lineage: bool,
    actor: str,
) -> list[tuple[Any, ...]]:
    """:func:`_audited` of decisions given as columns: the same rows, built column-wise."""
    _, columns, digest = prepare_rows(decided, times, lineage=lineage)
    seq = audit.append("decisions.recorded", subject, {"app": app, **digest.payload()}, actor=actor)
    return list(zip(*columns, repeat(seq, len(decided)), strict=True))


def _own_deliveries(request: RecordRequest) -> list[DeliveryRecord]:
    if request.deliveries:
        ids = set(request.decision_ids())
        strays = [d.key for d in request.deliveries if d.decision_id not in ids]
        if strays:
            raise StoreError(
                f"Deliveries must belong to a decision of their request; {strays[0]} does not."
            )
    return request.deliveries


def to_record(row: Any) -> Decision:
    return Decision(
        id=row.id,
        app=row.app,
        entity_id=row.entity_id,
        model_version=row.model_version,
        model_hash=row.model_hash,
        inputs=row.inputs,
        score=row.score,
        action=row.action,
        rule=row.rule,
        review=row.review,
        control=row.control,
        status=DecisionStatus(row.status),
        reasons=row.reasons,
        reasons_text=row.reasons_text,
        created_at=row.created_at,
        predicted_class=row.predicted_class,
        final_action=row.final_action,
        lineage=row.lineage,
    )


_COLUMNS = [c for c in decisions.c if c.name != "audit_seq"]


def get_decision(conn: sa.Connection, decision_id: str) -> Decision | None:
    row = conn.execute(sa.select(*_COLUMNS).where(decisions.c.id == decision_id)).first()
    return to_record(row) if row is not None else None


def get_decisions(conn: sa.Connection, ids: Iterable[str]) -> dict[str, Decision]:
    wanted = list(ids)
    if not wanted:
        return {}
    rows = conn.execute(sa.select(*_COLUMNS).where(decisions.c.id.in_(wanted)))
    return {row.id: to_record(row) for row in rows}


def list_decisions(conn: sa.Connection, query: DecisionQuery) -> DecisionPage:
    limit = max(1, min(query.limit, _MAX_LIMIT))
    where: list[sa.ColumnElement[bool]] = [decisions.c.app == query.app]
    if query.entity_id is not None:
        where.append(decisions.c.entity_id == query.entity_id)
    if query.action is not None:
        where.append(decisions.c.action == query.action)
    if query.status is not None:
        where.append(decisions.c.status == query.status)
    if query.since is not None:
        where.append(decisions.c.created_at >= query.since)
    if query.until is not None:
        where.append(decisions.c.created_at < query.until)
    if query.cursor:
        at, last_id = decode_cursor(query.cursor)
        where.append(
            sa.or_(
                decisions.c.created_at < at,
                sa.and_(decisions.c.created_at == at, decisions.c.id < last_id),
            )
        )
    rows = conn.execute(
        sa.select(*_COLUMNS)
        .where(*where)
        .order_by(decisions.c.created_at.desc(), decisions.c.id.desc())
        .limit(limit + 1)
    ).all()
    items = [to_record(row) for row in rows[:limit]]
    next_cursor = None
    if len(rows) > limit:
        next_cursor = encode_cursor(items[-1].created_at, items[-1].id)
    return DecisionPage(items=items, next_cursor=next_cursor)


def review(conn: sa.Connection, audit: AuditWriter, verdict: Verdict) -> Decision:
    current = conn.execute(
        sa.select(decisions.c.status, decisions.c.action).where(
            decisions.c.id == verdict.decision_id
        )
    ).first()
    if current is None:
        raise NotFoundError(
            f"No decision {verdict.decision_id!r}; check the id (GET /v1/apps/{{app}}/decisions "
            "lists them)."
        )
    _queue.check_claim(conn, verdict.decision_id, verdict.key_id, datetime.now(UTC))
    if verdict.verdict == "approve":
        status, final_action = "approved", current.action
    elif verdict.verdict == "override":
        if not verdict.action:
            raise StoreError(
                "An override must name the action to take instead (or 'none'); got no action."
            )
        status, final_action = "overridden", verdict.action
    else:
        raise StoreError(f"A verdict must be 'approve' or 'override'; got {verdict.verdict!r}.")
    updated = conn.execute(
        decisions.update()
        .where(decisions.c.id == verdict.decision_id, decisions.c.status == "pending_review")
        .values(status=status, final_action=final_action)
    ).rowcount
    if updated != 1:
        raise ReviewConflictError(
            f"Decision {verdict.decision_id} is not pending review (its status is "
            f"{current.status!r}); a verdict was already given or none is needed."
        )
    review_id = new_id()
    now = datetime.now(UTC)
    row: dict[str, Any] = {
        "id": review_id,
        "decision_id": verdict.decision_id,
        "verdict": verdict.verdict,
        "action": final_action if verdict.verdict == "override" else None,
        "reason": verdict.reason,
        "actor": verdict.actor,
        "created_at": now,
    }
    _queue.drop_claim(conn, verdict.decision_id)
    due = now + timedelta(seconds=max(0.0, verdict.hold_seconds))
    touched = _undo.apply_verdict(conn, verdict, final_action, now=now, due=due)
    digest = RowDigest()
    digest.add(review_id, review_fields(row))
    payload = {
        "decision_id": verdict.decision_id,
        "verdict": verdict.verdict,
        "status": status,
        "final_action": final_action,
        **digest.payload(),
        **touched,
    }
    if verdict.hold_seconds > 0:
        payload["undo_until"] = iso(due)
    row["audit_seq"] = audit.append(
        "review.recorded", verdict.decision_id, payload, actor=verdict.actor, at=now
    )
    conn.execute(reviews.insert(), [row])
    record = get_decision(conn, verdict.decision_id)
    assert record is not None
    return record
