"""The review queue, its claims, an app's activity and a decision's audit events, on SQLite and
PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from tests.store.factories import decision, with_deliveries

from doorstep.errors import NotFoundError, ReviewClaimedError, ReviewConflictError
from doorstep.store import RecordRequest, Store, Verdict
from doorstep.store.views import QueueQuery
from doorstep.types import Decision

NOW = datetime.now(UTC)


def pending(
    i: int, *, hours_ago: float, score: float, app: str = "churn", **changes: object
) -> Decision:
    return decision(
        i,
        app=app,
        status="pending_review",
        score=score,
        created_at=NOW - timedelta(hours=hours_ago),
        **changes,
    )


@pytest.fixture
def cases(store: Store) -> list[str]:
    records = [
        pending(1, hours_ago=30, score=0.45),
        pending(2, hours_ago=2, score=0.58),
        pending(3, hours_ago=10, score=0.52, action="call_customer"),
        pending(4, hours_ago=0.5, score=0.41),
        pending(5, hours_ago=5, score=0.55, app="fraud"),
        decision(6, created_at=NOW - timedelta(hours=1)),  # decided: never in the queue
    ]
    store.record([with_deliveries(records)], actor="t")
    return [r.id for r in records]


def test_queue_orders_oldest_first_or_by_score(store: Store, cases: list[str]) -> None:
    oldest = store.review_queue(QueueQuery(apps=("churn",)), now=NOW)
    assert [e.id for e in oldest.items] == [cases[0], cases[2], cases[1], cases[3]]
    assert oldest.total == 4
    by_score = store.review_queue(QueueQuery(apps=("churn",), order="score"), now=NOW)
    assert [e.id for e in by_score.items] == [cases[1], cases[2], cases[0], cases[3]]
    both = store.review_queue(QueueQuery(apps=("churn", "fraud")), now=NOW)
    assert both.total == 5 and cases[5] not in [e.id for e in both.items]


def test_queue_filters_by_action_age_and_score_band(store: Store, cases: list[str]) -> None:
    def ids(**filters: object) -> list[str]:
        page = store.review_queue(QueueQuery(apps=("churn",), **filters), now=NOW)  # type: ignore[arg-type]
        assert page.total == len(page.items)
        return [e.id for e in page.items]

    assert ids(action="call_customer") == [cases[2]]
    assert ids(older_than=NOW - timedelta(hours=4)) == [cases[0], cases[2]]
    assert ids(newer_than=NOW - timedelta(hours=4)) == [cases[1], cases[3]]
    assert ids(score_min=0.5, score_max=0.55) == [cases[2]]
    page = store.review_queue(QueueQuery(apps=("churn",), limit=2, offset=2), now=NOW)
    assert [e.id for e in page.items] == [cases[1], cases[3]] and page.total == 4


def test_a_claim_keeps_other_reviewers_off_until_released_or_expired(
    store: Store, cases: list[str]
) -> None:
    case = cases[0]
    held = store.claim_review(case, "key-a", "key:ana", seconds=600, now=NOW)
    assert held.expires_at == NOW + timedelta(seconds=600)
    with pytest.raises(ReviewClaimedError, match="claimed by key:ana"):
        store.claim_review(case, "key-b", "key:bo", seconds=600, now=NOW)
    with pytest.raises(ReviewClaimedError):
        store.release_review(case, "key-b", now=NOW)
    [entry] = [e for e in store.review_queue(QueueQuery(("churn",)), now=NOW).items if e.id == case]
    assert entry.claim is not None and entry.claim.actor == "key:ana"
    # renewing by the holder, then releasing
    store.claim_review(case, "key-a", "key:ana", seconds=900, now=NOW)
    assert store.release_review(case, "key-a", now=NOW) is True
    assert store.release_review(case, "key-a", now=NOW) is False
    store.claim_review(case, "key-b", "key:bo", seconds=60, now=NOW)
    # an expired claim is ignored: another reviewer may take the case over
    later = NOW + timedelta(seconds=61)
    assert store.claim_review(case, "key-a", "key:ana", seconds=60, now=later).key_id == "key-a"


def test_a_verdict_on_a_case_claimed_by_another_key_is_refused_and_changes_nothing(
    store: Store, cases: list[str]
) -> None:
    case = cases[1]
    store.claim_review(case, "key-a", "key:ana", seconds=600, now=datetime.now(UTC))
    verdict = Verdict(case, "approve", "looks right", "key:bo", key_id="key-b")
    with pytest.raises(ReviewClaimedError):
        store.review(verdict)
    assert store.get_decision(case).status == "pending_review"  # type: ignore[union-attr]
    assert store.delivery_counts()["held"] == 5
    done = store.review(Verdict(case, "approve", "looks right", "key:ana", key_id="key-a"))
    assert done.status == "approved"
    with pytest.raises(ReviewConflictError):
        store.claim_review(case, "key-b", "key:bo", seconds=60, now=datetime.now(UTC))
    with pytest.raises(NotFoundError):
        store.claim_review("nope", "key-b", "key:bo", seconds=60, now=datetime.now(UTC))
    assert store.verify_audit().ok


def test_activity_counts_days_actions_verdicts_and_backlog_ages(
    store: Store, cases: list[str]
) -> None:
    store.review(Verdict(cases[3], "override", "not worth it", "key:ana", action="none"))
    now = datetime.now(UTC)
    activity = store.app_activity("churn", days=3, now=now)
    assert [d.day for d in activity.days][-1] == now.strftime("%Y-%m-%d")
    assert len(activity.days) == 3
    totals: dict[str, int] = {}
    for day in activity.days:
        for action, n in day.decisions.items():
            totals[action] = totals.get(action, 0) + n
    assert totals == {"retention_offer": 3, "call_customer": 1, "none": 1}
    assert activity.backlog == 3 and activity.reviewed == 1 and activity.overridden == 1
    assert activity.backlog_ages == {"< 1 h": 0, "1–4 h": 1, "4–24 h": 1, "1–3 d": 1, "> 3 d": 0}
    assert activity.oldest_pending is not None
    assert abs((activity.oldest_pending - (NOW - timedelta(hours=30))).total_seconds()) < 1


def test_decision_audit_lists_its_recording_and_verdict(store: Store) -> None:
    alone = pending(7, hours_ago=1, score=0.5)
    store.record([RecordRequest([alone])], actor="client")
    store.record([with_deliveries([pending(8, hours_ago=1, score=0.5)])], actor="other")
    store.review(Verdict(alone.id, "approve", "fine", "key:ana"))
    events = store.decision_audit(alone.id)
    assert [e.kind for e in events] == ["decisions.recorded", "review.recorded"]
    assert events[1].actor == "key:ana" and events[1].payload["verdict"] == "approve"
