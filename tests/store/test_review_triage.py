"""Triage of the review queue: search by entity id, "mine", "unclaimed", "overdue", what each
row carries (inputs and reasons), and skips recorded in the audit trail; SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from tests.store.factories import decision, with_deliveries

from doorstep.errors import ReviewClaimedError
from doorstep.store import Store
from doorstep.store.views import QueueQuery

NOW = datetime.now(UTC)


@pytest.fixture
def cases(store: Store) -> list[str]:
    records = [
        decision(
            1, status="pending_review", entity_id="C-100", created_at=NOW - timedelta(hours=30)
        ),
        decision(
            2, status="pending_review", entity_id="C-101", created_at=NOW - timedelta(hours=2)
        ),
        decision(
            3, status="pending_review", entity_id="C-2_0", created_at=NOW - timedelta(hours=1)
        ),
        decision(
            4,
            status="pending_review",
            entity_id="C-210",
            created_at=NOW - timedelta(hours=40),
            app="fraud",
        ),
    ]
    store.record([with_deliveries(records)], actor="t")
    return [r.id for r in records]


def ids(store: Store, **filters: object) -> list[str]:
    query = QueueQuery(apps=("churn", "fraud"), **filters)  # type: ignore[arg-type]
    page = store.review_queue(query, now=NOW)
    assert page.total == len(page.items)
    return [e.id for e in page.items]


def test_search_by_the_start_of_the_entity_id_with_wildcards_taken_literally(
    store: Store, cases: list[str]
) -> None:
    assert ids(store, entity_id="C-10") == [cases[0], cases[1]]
    assert ids(store, entity_id="C-101") == [cases[1]]
    assert ids(store, entity_id="C-2_") == [cases[2]]  # "_" is no wildcard: C-210 is not found
    assert ids(store, entity_id="X") == []


def test_mine_and_unclaimed_follow_live_claims_only(store: Store, cases: list[str]) -> None:
    store.claim_review(cases[0], "key-a", "key:ana", seconds=600, now=NOW)
    store.claim_review(cases[1], "key-b", "key:bo", seconds=600, now=NOW)
    store.claim_review(cases[2], "key-a", "key:ana", seconds=600, now=NOW - timedelta(hours=1))
    assert ids(store, claimed_by="key-a") == [cases[0]]  # the other claim has expired
    assert ids(store, unclaimed=True) == [cases[3], cases[2]]


def test_overdue_takes_each_apps_own_cutoff(store: Store, cases: list[str]) -> None:
    churn_late = (("churn", NOW - timedelta(hours=24)),)
    assert ids(store, overdue=churn_late) == [cases[0]]
    both = (("churn", NOW - timedelta(hours=1.5)), ("fraud", NOW - timedelta(hours=48)))
    assert ids(store, overdue=both) == [cases[0], cases[1]]
    assert ids(store, overdue=()) == []


def test_rows_carry_inputs_and_reasons(store: Store, cases: list[str]) -> None:
    [entry] = store.review_queue(QueueQuery(apps=("churn",), entity_id="C-101"), now=NOW).items
    assert entry.inputs["tenure_months"] == 2 and entry.inputs["plan"] == "basic"
    assert entry.reasons[0]["label"] == "Months as a customer"


def test_a_skip_puts_the_case_back_and_is_recorded(store: Store, cases: list[str]) -> None:
    case = cases[0]
    store.claim_review(case, "key-a", "key:ana", seconds=600, now=NOW)
    with pytest.raises(ReviewClaimedError):
        store.skip_review(case, "key-b", "key:bo", now=NOW)
    assert store.skip_review(case, "key-a", "key:ana", now=NOW) is True
    assert case in ids(store, unclaimed=True)
    skips = [e for e in store.decision_audit(case) if e.kind == "review.skipped"]
    assert [(e.actor, e.subject, e.payload) for e in skips] == [("key:ana", case, {"key": "key-a"})]
    assert store.verify_audit().ok


def test_a_decided_case_is_not_skipped(store: Store) -> None:
    done = decision(9)
    store.record([with_deliveries([done])], actor="t")
    assert store.skip_review(done.id, "key-a", "key:ana", now=NOW) is False
    assert not [e for e in store.decision_audit(done.id) if e.kind == "review.skipped"]
