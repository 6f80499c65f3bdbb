"""One decision's case, as its page reads it: in one transaction, with a fixed number of
statements however many deliveries and attempts the decision has."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from tests.store.factories import decision, delivery

from doorstep.store import AttemptResult, RecordRequest, Store, Verdict

NOW = datetime.now(UTC)


@contextmanager
def counted(store: Store) -> Iterator[list[str]]:
    statements: list[str] = []

    def count(*args: Any) -> None:
        statements.append(args[2])

    sa.event.listen(store.engine, "before_cursor_execute", count)
    try:
        yield statements
    finally:
        sa.event.remove(store.engine, "before_cursor_execute", count)


def decided_with(store: Store, actions: int, *, status: str = "decided") -> str:
    record = decision(1, status=status)
    outbox = [
        delivery(record, action=f"a{i}", connector="crm", state="pending") for i in range(actions)
    ]
    store.record([RecordRequest([record], deliveries=outbox)], actor="test")
    for claimed in store.claim_deliveries("w", actions, 30):
        store.finish_delivery(
            claimed.id, claimed.lease_token, AttemptResult("retry", "503", 503), NOW, "pending"
        )
    return record.id


def test_the_case_holds_everything_the_page_shows(store: Store) -> None:
    store.register_model_version("churn", "v1", "f" * 64, "ana@example.com", actor="test")
    decision_id = decided_with(store, 2, status="pending_review")
    store.claim_review(decision_id, "key-1", "ana", seconds=60, now=NOW)
    case = store.decision_case(decision_id, now=NOW)
    assert case is not None and case.decision.id == decision_id
    assert [d.action for d in case.deliveries] == sorted(
        (d.action for d in case.deliveries), reverse=True
    )  # newest first: a1 was written after a0 in the same instant, ids break the tie
    assert all(len(d.history) == 1 and d.history[0].status == 503 for d in case.deliveries)
    assert case.model_version is not None and case.model_version["owner"] == "ana@example.com"
    assert [e.kind for e in case.audit][0] == "decisions.recorded"
    assert case.review is None
    assert case.claim is not None and case.claim.key_id == "key-1"
    assert store.decision_case("no-such-id", now=NOW) is None
    store.review(Verdict(decision_id, "approve", "looks right", "ana", key_id="key-1"))
    reviewed = store.decision_case(decision_id, now=NOW + timedelta(seconds=1))
    assert reviewed is not None and reviewed.claim is None
    assert reviewed.review is not None and reviewed.review.reason == "looks right"
    assert reviewed.decision.status == "approved"


def test_reading_a_case_costs_the_same_for_one_delivery_or_twenty(store: Store) -> None:
    one, twenty = decided_with(store, 1), decided_with(store, 20)
    with counted(store) as first:
        case = store.decision_case(one, now=NOW)
    with counted(store) as second:
        many = store.decision_case(twenty, now=NOW)
    assert case is not None and many is not None and len(many.deliveries) == 20
    assert len(second) == len(first) <= 10  # no statement per delivery
