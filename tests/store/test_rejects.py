"""The rejects table: refused records kept with their decisions' transaction, once however often
a chunk is written, and counted per window, field and rule (records, not rules). On SQLite and
PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from tests.store.factories import decision

from doorstep.store import RecordRequest, Store
from doorstep.store.rejects import RejectRecord

START = datetime(2026, 3, 2, tzinfo=UTC)


def reject(record: str, at: datetime, field: str | None, rule: str) -> RejectRecord:
    return RejectRecord(
        app="churn", at=at, source="api", record=record, rule=rule, message=f"{field}: {rule}",
        field=field, value="-3" if field else None,
    )  # fmt: skip


def test_rejects_are_counted_per_window_field_and_rule(store: Store) -> None:
    hour = timedelta(hours=1)
    found = [
        reject("a:1", START, "tenure_months", "min"),
        reject("a:1", START, "plan", "allowed_values"),  # the same record, two rules
        reject("a:2", START + timedelta(minutes=5), "tenure_months", "min"),
        reject("b:1", START + hour + timedelta(minutes=1), None, "record"),
        reject("c:1", START + 5 * hour, "tenure_months", "min"),  # outside the windows
    ]
    store.record_rejects(found)
    store.record_rejects(found[:2])  # written again: kept once
    counts = store.reject_counts("churn", edges=[START, START + hour, START + 2 * hour])
    by = {(c.window, c.field, c.rule): (c.rows, c.records) for c in counts}
    assert by == {
        (0, "plan", "allowed_values"): (1, 1),
        (0, "tenure_months", "min"): (2, 2),
        (0, None, "*"): (3, 2),  # three broken rules, two records
        (1, None, "record"): (1, 1),
        (1, None, "*"): (1, 1),
    }
    assert store.reject_counts("other", edges=[START, START + hour]) == []


def test_rejects_are_kept_with_the_decisions_of_their_request(store: Store) -> None:
    made = decision(1)
    kept = reject("r:2", made.created_at, "tenure_months", "min")
    store.record([RecordRequest([made], rejects=[kept])], actor="t")
    # a request of refused records only: kept, nothing decided, nothing audited
    before = store.verify_audit()
    alone = reject("r:3", made.created_at, "plan", "allowed_values")
    store.record([RecordRequest([], app="churn", rejects=[alone])], actor="t")
    assert store.verify_audit().events == before.events
    edges = [made.created_at - timedelta(hours=1), made.created_at + timedelta(hours=1)]
    counts = store.reject_counts("churn", edges=edges)
    assert {(c.field, c.rule, c.records) for c in counts} == {
        ("tenure_months", "min", 1),
        ("plan", "allowed_values", 1),
        (None, "*", 2),
    }
