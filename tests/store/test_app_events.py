"""An app's activity feed from the audit chain: its verdicts, its deliveries' changes and its
connectors, and the API keys' changes, newest first, in pages; never another app's events nor
the recording of decisions."""

from __future__ import annotations

from tests.store.factories import decision, delivery

from doorstep.store import RecordRequest, Store, Verdict
from doorstep.store import activity as _activity
from doorstep.store.protocols import DeliveryQuery


def test_the_feed_holds_the_apps_events_newest_first(store: Store) -> None:
    mine = decision(1, status="pending_review")
    other = decision(2, app="fraud", status="pending_review")
    store.record(
        [
            RecordRequest([mine], deliveries=[delivery(mine)]),
            RecordRequest([other], deliveries=[delivery(other)]),
        ],
        actor="test",
    )
    store.review(Verdict(mine.id, "approve", "checked", actor="key:ana"))
    store.review(Verdict(other.id, "approve", "checked", actor="key:bo"))
    [sent] = store.list_deliveries(DeliveryQuery(decision_id=mine.id)).items
    store.cancel_deliveries([sent.id], actor="key:ana", reason="customer left")
    store.create_key("crm", "client", actor="key:ana")
    store.enable_connector("churn", "crm", actor="key:ana")  # not disabled: no event
    feed = store.app_events("churn")
    kinds = [item.event.kind for item in feed.items]
    assert kinds == ["key.created", "deliveries.cancelled", "review.recorded"]
    assert feed.before is None
    cancelled, reviewed = feed.items[1], feed.items[2]
    assert (cancelled.decision_id, cancelled.entity_id) == (mine.id, "C-1")
    assert (reviewed.decision_id, reviewed.entity_id) == (mine.id, "C-1")
    assert [i.event.actor for i in store.app_events("fraud").items] == ["key:ana", "key:bo"]


def test_the_feed_comes_in_pages_and_skips_scanning_past_its_limit(store: Store) -> None:
    for n in range(5):
        record = decision(n, status="pending_review")
        store.record([RecordRequest([record])], actor="test")
        store.review(Verdict(record.id, "approve", f"checked {n}", actor="key:ana"))
    first = store.app_events("churn", limit=2)
    assert len(first.items) == 2 and first.before == first.items[-1].event.seq
    second = store.app_events("churn", before=first.before, limit=2)
    third = store.app_events("churn", before=second.before, limit=2)
    seqs = [i.event.seq for page in (first, second, third) for i in page.items]
    assert seqs == sorted(seqs, reverse=True) and len(set(seqs)) == 5
    assert third.before is None
    assert _activity.FEED_SKIPS == ("decisions.recorded",)
