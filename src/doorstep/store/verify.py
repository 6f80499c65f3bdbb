"""Walk the audit chain and the rows it vouches for; name the first bad event.

Constant memory: events are read in pages of ``page_size`` by seq, and the rows of each page
are streamed in (audit_seq, id) order into running digests; API keys and model versions, which
their events name as subject, are compared page by page too
(:mod:`doorstep.store.verify_subjects`). Problems found:

- ``edited``: an event's hash does not recompute, or rows no longer match their event's digest
  or fields; an event rewritten with its hash recomputed (the next event still links to the
  original) is named itself
- ``deleted``: a seq is missing, an event's predecessor is gone, or rows are missing
- ``inserted``: an event that does not chain, or rows no event recorded (``audit_seq`` null,
  pointing nowhere, or at an event of another kind; a key or model version no event names)
- ``reordered``: an event links to an event other than its predecessor, or rows moved between
  events

A report's ``events`` counts the events before the first bad one, all of whose rows checked.

An unkeyed hash chain cannot tell a truncated tail (the newest events deleted together with
their rows) from a shorter history: compare ``details["head_hash"]`` with a copy kept elsewhere.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import sqlalchemy as sa

from doorstep.store.audit import GENESIS, REVIEWED, RowDigest, decision_fields, event_hash
from doorstep.store.audit import review_fields as _review_fields
from doorstep.store.outcomes import KIND as OUTCOMES_KIND
from doorstep.store.outcomes import outcome_fields
from doorstep.store.protocols import AuditReport
from doorstep.store.tables import audit_events, decisions, outcomes, reviews
from doorstep.store.undo import undone_reviews
from doorstep.store.verify_subjects import Problem as _Problem
from doorstep.store.verify_subjects import check_subjects, unvouched_rows

__all__ = ["verify_chain"]

DECISIONS_KIND = "decisions.recorded"
REVIEW_KIND = "review.recorded"


def verify_chain(conn: sa.Connection, *, page_size: int = 1000) -> AuditReport:
    expected = 1
    last_hash, before_last = GENESIS, None
    events = 0
    last_seq = 0
    while True:
        page: list[Any] = list(
            conn.execute(
                sa.select(audit_events)
                .where(audit_events.c.seq > last_seq)
                .order_by(audit_events.c.seq)
                .limit(page_size)
            )
        )
        if not page:
            break
        for event in page:
            problem = _check_link(conn, event, expected, last_hash, before_last)
            if problem:
                return _report(events, problem)
            events += 1
            expected = event.seq + 1
            before_last, last_hash = last_hash, event.hash
        row_problems = [
            *_check_decisions(conn, page),
            *_check_reviews(conn, page),
            *_check_outcomes(conn, page),
            *check_subjects(conn, page),
        ]
        if row_problems:
            return _report(events, min(row_problems, key=lambda p: p.seq or 0))
        last_seq = page[-1].seq
    orphan = _orphans(conn, last_seq) or unvouched_rows(conn, last_seq)
    if orphan:
        return _report(events, orphan)
    return AuditReport(
        ok=True, events=events, details={"head_seq": last_seq, "head_hash": last_hash}
    )


def _report(events: int, problem: _Problem) -> AuditReport:
    if problem.seq is not None:  # rows are checked a page at a time: count up to the bad one
        events = max(0, min(events, problem.seq - 1))
    return AuditReport(
        ok=False,
        events=events,
        first_bad_seq=problem.seq,
        problem=problem.problem,
        details=problem.details,
    )


def _recompute(event: Any, seq: int) -> str:
    return event_hash(
        event.prev_hash, seq, event.at, event.actor, event.kind, event.subject, event.payload
    )


def _check_link(
    conn: sa.Connection, event: Any, expected: int, last_hash: str, before_last: str | None
) -> _Problem | None:
    if event.seq > expected:
        return _Problem(
            expected, "deleted", {"missing_seqs": [expected, event.seq - 1], "next": event.seq}
        )
    self_ok = _recompute(event, event.seq) == event.hash
    if event.prev_hash == last_hash:
        if self_ok:
            return None
        return _Problem(event.seq, "edited", {"kind": event.kind, "subject": event.subject})
    if before_last is not None and event.prev_hash == before_last:
        return _Problem(
            event.seq - 1, "inserted", {"note": "this event is not part of the original chain"}
        )
    elsewhere = conn.execute(
        sa.select(audit_events.c.seq).where(
            audit_events.c.hash == event.prev_hash, audit_events.c.seq != event.seq
        )
    ).first()
    if elsewhere is not None:
        return _Problem(event.seq, "reordered", {"links_to_seq": elsewhere.seq, "kind": event.kind})
    if _recompute(event, event.seq + 1) == event.hash:  # moved down after a deletion
        return _Problem(
            event.seq, "deleted", {"note": "the event this one links to no longer exists"}
        )
    if self_ok and event.seq > 1:  # intact, but its predecessor is not what it linked to
        note = "rewritten with its hash recomputed; the next event links to the original"
        return _Problem(event.seq - 1, "edited", {"note": note, "next": event.seq})
    if self_ok:
        return _Problem(
            event.seq, "deleted", {"note": "the event this one links to no longer exists"}
        )
    return _Problem(event.seq, "inserted", {"kind": event.kind, "subject": event.subject})


@contextmanager
def _stream(conn: sa.Connection, query: sa.Select[Any]) -> Iterator[Any]:
    """Rows in batches (a server-side cursor on PostgreSQL), closed even when left early."""
    result = conn.execution_options(yield_per=500).execute(query)
    try:
        yield result
    finally:
        result.close()


def _check_decisions(conn: sa.Connection, page: list[Any]) -> list[_Problem]:
    lo, hi = page[0].seq, page[-1].seq
    kinds = {e.seq: e for e in page}
    found: dict[int, RowDigest] = {}
    problems: list[_Problem] = []
    query = (
        sa.select(
            decisions,
            sa.cast(decisions.c.inputs, sa.Text).label("inputs_json"),
            sa.cast(decisions.c.reasons, sa.Text).label("reasons_json"),
            sa.cast(decisions.c.lineage, sa.Text).label("lineage_json"),
            reviews.c.id.label("review_id"),
        )
        .outerjoin(reviews, reviews.c.decision_id == decisions.c.id)
        .where(decisions.c.audit_seq.between(lo, hi))
        .order_by(decisions.c.audit_seq, decisions.c.id)
    )
    with _stream(conn, query) as rows:
        problems.extend(_digest_decisions(rows, kinds, found))
    for event in page:
        if event.kind == DECISIONS_KIND:
            got = found.get(event.seq, RowDigest()).payload()
            problem = _compare(event, got, "decisions")
            if problem:
                problems.append(problem)
                break
    return problems


def _digest_decisions(
    rows: Iterator[Any], kinds: dict[int, Any], found: dict[int, RowDigest]
) -> list[_Problem]:
    """Digest rows per event; returns the first row that no decisions event can vouch for."""
    first: list[_Problem] = []
    for row in rows:
        event = kinds.get(row.audit_seq)
        if event is None or event.kind != DECISIONS_KIND:
            if not first:
                first.append(
                    _Problem(row.audit_seq, "inserted", {"table": "decisions", "id": row.id})
                )
            continue
        if row.status in REVIEWED and row.review_id is None and not first:
            note = "reviewed without a review"
            first.append(
                _Problem(
                    row.audit_seq, "edited", {"table": "decisions", "id": row.id, "note": note}
                )
            )
        digest = found.setdefault(row.audit_seq, RowDigest())
        texts = [row.inputs_json, row.reasons_json]
        if row.lineage_json is not None:  # digested only where there is one (older rows)
            texts.append(row.lineage_json)
        digest.add(row.id, decision_fields(row._mapping), *texts)
    return first


def _check_reviews(conn: sa.Connection, page: list[Any]) -> list[_Problem]:
    lo, hi = page[0].seq, page[-1].seq
    kinds = {e.seq: e for e in page}
    found: dict[int, RowDigest] = {}
    states: dict[int, tuple[str, str | None]] = {}
    problems: list[_Problem] = []
    query = (
        sa.select(reviews, decisions.c.status, decisions.c.final_action)
        .outerjoin(decisions, decisions.c.id == reviews.c.decision_id)
        .where(reviews.c.audit_seq.between(lo, hi))
        .order_by(reviews.c.audit_seq, reviews.c.id)
    )
    with _stream(conn, query) as rows:
        for row in rows:
            event = kinds.get(row.audit_seq)
            if event is None or event.kind != REVIEW_KIND:
                return [_Problem(row.audit_seq, "inserted", {"table": "reviews", "id": row.id})]
            found.setdefault(row.audit_seq, RowDigest()).add(row.id, _review_fields(row._mapping))
            states[row.audit_seq] = (row.status, row.final_action)
    undone = undone_reviews(
        conn, (str(e.payload.get("decision_id")) for e in page if e.kind == REVIEW_KIND)
    )
    for event in page:
        if event.kind != REVIEW_KIND:
            continue
        got = found.get(event.seq, RowDigest()).payload()
        if event.seq in undone:  # taken back within its window: its row is gone by design
            if got["count"]:
                problems.append(_Problem(event.seq, "inserted", {"table": "reviews"}))
                break
            continue
        problem = _compare(event, got, "reviews")
        if problem is None and states.get(event.seq) != (
            event.payload.get("status"),
            event.payload.get("final_action"),
        ):
            problem = _Problem(
                event.seq,
                "edited",
                {"table": "decisions", "id": event.payload.get("decision_id")},
            )
        if problem:
            problems.append(problem)
            break
    return problems


def _check_outcomes(conn: sa.Connection, page: list[Any]) -> list[_Problem]:
    lo, hi = page[0].seq, page[-1].seq
    kinds = {e.seq: e for e in page}
    found: dict[int, RowDigest] = {}
    query = (
        sa.select(outcomes)
        .where(outcomes.c.audit_seq.between(lo, hi))
        .order_by(outcomes.c.audit_seq, outcomes.c.id)
    )
    with _stream(conn, query) as rows:
        for row in rows:
            event = kinds.get(row.audit_seq)
            if event is None or event.kind != OUTCOMES_KIND:
                return [_Problem(row.audit_seq, "inserted", {"table": "outcomes", "id": row.id})]
            found.setdefault(row.audit_seq, RowDigest()).add(row.id, outcome_fields(row._mapping))
    for event in page:
        if event.kind == OUTCOMES_KIND:
            problem = _compare(event, found.get(event.seq, RowDigest()).payload(), "outcomes")
            if problem:
                return [problem]
    return []


def _compare(event: Any, got: dict[str, Any], table: str) -> _Problem | None:
    want = event.payload
    details = {"table": table, "expected_rows": want.get("count"), "found_rows": got["count"]}
    if got["count"] < want.get("count", 0):
        return _Problem(event.seq, "deleted", details)
    if got["count"] > want.get("count", 0):
        return _Problem(event.seq, "inserted", details)
    if got["ids"] != want.get("ids"):
        return _Problem(event.seq, "reordered", details)
    if got["digest"] != want.get("digest"):
        return _Problem(event.seq, "edited", details)
    return None


def _orphans(conn: sa.Connection, head: int) -> _Problem | None:
    for table in (decisions, reviews, outcomes):
        row = conn.execute(
            sa.select(table.c.id, table.c.audit_seq)
            .where(
                sa.or_(
                    table.c.audit_seq.is_(None),
                    table.c.audit_seq > head,
                    table.c.audit_seq < 1,
                )
            )
            .order_by(table.c.audit_seq.nulls_first(), table.c.id)
            .limit(1)
        ).first()
        if row is None:
            continue
        if row.audit_seq is None or row.audit_seq < 1:
            return _Problem(
                None, "inserted", {"table": table.name, "id": row.id, "audit_seq": None}
            )
        return _Problem(row.audit_seq, "deleted", {"table": table.name, "id": row.id})
    return None
