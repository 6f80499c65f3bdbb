"""Alert state in the store (SQLite and PostgreSQL): a transition applies only to the version it
was computed from, with its outbox rows and audit event in the same transaction; migration 0006
keeps every delivery and attempt while it makes ``deliveries.decision_id`` nullable."""

from __future__ import annotations

from datetime import UTC, datetime

from tests.store.factories import decision, with_deliveries

from doorstep.ids import new_id
from doorstep.store import Store, upgrade
from doorstep.store.alerts import AlertMessage, AlertTransition
from doorstep.store.migrate import head_revision
from doorstep.store.protocols import DeliveryQuery
from doorstep.store.tables import deliveries, delivery_attempts

NOW = datetime(2025, 3, 10, 1, tzinfo=UTC)


def raise_(version: int | None, breach: str) -> AlertTransition:
    message = {"context": {"app": "churn"}, "payload": {"type": "alert.raised"}, "text": "ALERT"}
    return AlertTransition(
        app="churn",
        subject="drift.plan",
        kind="drift",
        expected_version=version,
        values={"status": "alert", "breach_id": breach, "opened_at": NOW, "value": 0.3},
        event="alert.raised",
        payload={"breach_id": breach},
        messages=[
            AlertMessage(new_id(), f"alert:{breach}:raised:ops", "alert.raised", "ops", message)
        ],
    )


def test_a_transition_applies_once_to_its_version(store: Store) -> None:
    run = ("monitor.run", "churn", {"window": "day"})
    first = store.apply_alert_transitions([raise_(None, "b-1")], run, actor="t", now=NOW)
    assert [t.subject for t in first] == ["drift.plan"]
    # a second monitor judged the same state at the same time: nothing is written twice
    assert store.apply_alert_transitions([raise_(None, "b-2")], run, actor="t", now=NOW) == []
    states = store.alert_states("churn")
    assert states["drift.plan"].breach_id == "b-1" and states["drift.plan"].version == 1
    assert store.apply_alert_transitions([raise_(7, "b-3")], None, actor="t", now=NOW) == []
    assert store.delivery_counts("churn")["pending"] == 1
    page = store.list_deliveries(DeliveryQuery(app="churn"))
    assert [(d.decision_id, d.action, d.key) for d in page.items] == [
        (None, "alert.raised", "alert:b-1:raised:ops")
    ]
    claimed = store.claim_deliveries("w", 10, 60, now=NOW)
    assert len(claimed) == 1 and claimed[0].decision is None
    assert claimed[0].message is not None and claimed[0].message["text"] == "ALERT"
    report = store.verify_audit()
    assert report.ok and report.events == 3  # monitor.run twice, alert.raised once


def test_upgrade_to_0006_keeps_deliveries_and_attempts(store_url: str) -> None:
    from doorstep.store.engine import create_store_engine

    engine = create_store_engine(store_url)
    try:
        assert upgrade(engine, "0005") == "0005"
        old = Store(engine)
        old.record([with_deliveries([decision(1), decision(2)])], actor="t")
        first = old.list_deliveries(DeliveryQuery()).items[0]
        with engine.begin() as conn:  # an attempt as a 0005 worker left it
            conn.execute(
                delivery_attempts.insert().values(
                    delivery_id=first.id, number=1, worker="w", lease_token="t",
                    started_at=NOW, finished_at=NOW, outcome="delivered", status=200,
                )
            )  # fmt: skip
            conn.execute(
                deliveries.update().where(deliveries.c.id == first.id).values(state="delivered")
            )
        assert upgrade(engine, "0006") == "0006"
        info = old.get_delivery(first.id)
        assert info is not None and info.state == "delivered" and len(info.history) == 1
        counts = old.delivery_counts()
        assert counts["delivered"] == 1 and counts["pending"] == 1
        assert [c.id for c in old.claim_deliveries("w2", 5, 60)] != [first.id]
        # the chain holds through every later migration (verifying reads today's tables)
        assert upgrade(engine) == head_revision()
        assert old.verify_audit().ok
    finally:
        engine.dispose()
