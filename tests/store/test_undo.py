"""Undoing a verdict within its window: the deliveries it released or added wait for the window
to close, an undo puts them back as they were before the verdict and the case back in the
queue, the audit chain records it and still verifies; on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from tests.store.factories import decision, delivery, with_deliveries

from doorstep.errors import NotFoundError, ReviewConflictError
from doorstep.store import DeliveryQuery, Store, Verdict
from doorstep.store.tables import reviews
from doorstep.store.views import QueueQuery

HOLD = 30.0


def _held(store: Store) -> tuple[str, str]:
    record = decision(1, status="pending_review")
    request = with_deliveries([record])
    store.record([request], actor="t")
    return record.id, request.deliveries[0].id


def _states(store: Store) -> dict[tuple[str, str], str]:
    items = store.list_deliveries(DeliveryQuery(app="churn")).items
    return {(d.key.split(":")[1], d.id): d.state for d in items}


def test_an_approval_waits_for_its_window_and_an_undo_holds_it_again(store: Store) -> None:
    decision_id, delivery_id = _held(store)
    given = datetime.now(UTC)
    store.review(Verdict(decision_id, "approve", "fits", "key:ana", hold_seconds=HOLD))
    info = store.get_delivery(delivery_id)
    assert info is not None and info.state == "pending"
    assert info.next_attempt_at is not None
    assert info.next_attempt_at >= given + timedelta(seconds=HOLD)
    # no worker claims it while the verdict can be undone
    assert store.claim_deliveries("w", 10, 30, now=given + timedelta(seconds=HOLD - 1)) == []
    undone = store.undo_review(decision_id, "key:bo", now=datetime.now(UTC))
    assert (undone.status, undone.final_action) == ("pending_review", None)
    assert store.get_review(decision_id) is None
    assert _states(store) == {("retention_offer", delivery_id): "held"}
    # held again: not even after the window
    assert store.claim_deliveries("w", 10, 30, now=given + timedelta(hours=1)) == []
    queue = store.review_queue(QueueQuery(apps=("churn",)), now=datetime.now(UTC)).items
    assert [e.id for e in queue] == [decision_id]
    trail = [(e.kind, e.actor) for e in store.decision_audit(decision_id)]
    assert trail[-2:] == [("review.recorded", "key:ana"), ("review.undone", "key:bo")]
    assert store.verify_audit().ok
    # the case takes a verdict again, and that one goes out
    store.review(Verdict(decision_id, "approve", "fits after all", "key:ana"))
    claimed = store.claim_deliveries("w", 10, 30)
    assert [c.id for c in claimed] == [delivery_id]
    report = store.verify_audit()
    assert report.ok, report


def test_an_undone_override_restores_the_held_delivery_and_drops_the_new_one(
    store: Store,
) -> None:
    decision_id, delivery_id = _held(store)
    record = store.get_decision(decision_id)
    assert record is not None
    new = delivery(record, action="call_customer", connector="callbacks", state="pending")
    store.review(
        Verdict(decision_id, "override", "VIP", "rev", "call_customer", [new], hold_seconds=HOLD)
    )
    assert _states(store) == {
        ("retention_offer", delivery_id): "cancelled",
        ("call_customer", new.id): "pending",
    }
    assert store.claim_deliveries("w", 10, 30, now=datetime.now(UTC)) == []
    store.undo_review(decision_id, "rev", now=datetime.now(UTC))
    assert _states(store) == {("retention_offer", delivery_id): "held"}
    info = store.get_delivery(delivery_id)
    assert info is not None and info.last_detail is None
    # the same override again: its delivery's key is free again
    again = delivery(record, action="call_customer", connector="callbacks", state="pending")
    store.review(Verdict(decision_id, "override", "VIP", "rev", "call_customer", [again]))
    claimed = store.claim_deliveries("w", 10, 30)
    assert [c.id for c in claimed] == [again.id]
    assert store.verify_audit().ok


def test_an_undo_after_the_window_is_refused_and_changes_nothing(store: Store) -> None:
    decision_id, delivery_id = _held(store)
    store.review(Verdict(decision_id, "approve", "fits", "key:ana", hold_seconds=HOLD))
    late = datetime.now(UTC) + timedelta(seconds=HOLD + 1)
    with pytest.raises(ReviewConflictError, match="undo window closed at .* UTC") as refused:
        store.undo_review(decision_id, "key:ana", now=late)
    assert "ana approved it at" in str(refused.value)
    record = store.get_decision(decision_id)
    assert record is not None and record.status == "approved"
    assert store.get_review(decision_id) is not None
    assert _states(store) == {("retention_offer", delivery_id): "pending"}
    assert [c.id for c in store.claim_deliveries("w", 10, 30, now=late)] == [delivery_id]
    assert store.verify_audit().ok


def test_a_verdict_without_a_window_cannot_be_undone(store: Store) -> None:
    decision_id, delivery_id = _held(store)
    store.review(Verdict(decision_id, "approve", "fits", "key:ana"))
    with pytest.raises(ReviewConflictError, match="no undo window"):
        store.undo_review(decision_id, "key:ana", now=datetime.now(UTC))
    assert [c.id for c in store.claim_deliveries("w", 10, 30)] == [delivery_id]


def test_an_undo_after_the_delivery_moved_on_is_refused(store: Store) -> None:
    decision_id, delivery_id = _held(store)
    store.review(Verdict(decision_id, "approve", "fits", "key:ana", hold_seconds=HOLD))
    store.cancel_deliveries([delivery_id], actor="key:owner", reason="not now")
    with pytest.raises(ReviewConflictError, match="has moved on since"):
        store.undo_review(decision_id, "key:ana", now=datetime.now(UTC))
    record = store.get_decision(decision_id)
    assert record is not None and record.status == "approved"
    assert _states(store) == {("retention_offer", delivery_id): "cancelled"}
    assert store.verify_audit().ok


def test_nothing_to_undo(store: Store) -> None:
    decision_id, _ = _held(store)
    with pytest.raises(ReviewConflictError, match="no verdict to undo"):
        store.undo_review(decision_id, "key:ana", now=datetime.now(UTC))
    with pytest.raises(NotFoundError):
        store.undo_review("no-such-decision", "key:ana", now=datetime.now(UTC))


def test_verify_still_finds_a_review_row_deleted_without_an_undo(store: Store) -> None:
    undone_id, _ = _held(store)
    store.review(Verdict(undone_id, "approve", "fits", "a", hold_seconds=HOLD))
    store.undo_review(undone_id, "a", now=datetime.now(UTC))
    other = decision(2, status="pending_review")
    store.record([with_deliveries([other])], actor="t")
    store.review(Verdict(other.id, "approve", "fits", "a", hold_seconds=HOLD))
    assert store.verify_audit().ok
    with store.engine.begin() as conn:
        conn.execute(sa.delete(reviews).where(reviews.c.decision_id == other.id))
    report = store.verify_audit()
    assert not report.ok and report.problem in ("deleted", "edited")
