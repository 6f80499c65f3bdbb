"""The outbox in the store: written with the decisions, held for review, claimed under leases,
finished once, re-driven and cancelled; on SQLite and PostgreSQL."""

from __future__ import annotations

import threading
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from tests.store.factories import decision, delivery, with_deliveries

from doorstep.errors import InputError, StoreError
from doorstep.store import (
    AttemptResult,
    ClaimedDelivery,
    DeliveryQuery,
    FinishRequest,
    RecordRequest,
    Store,
    Verdict,
    open_store,
)
from doorstep.store.tables import audit_events, decisions, deliveries
from doorstep.types import Decision

T0 = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)
"""A fixed "now" later than every decision the factories make."""


def _count(store: Store, table: sa.Table) -> int:
    with store.engine.connect() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one())


def _state(store: Store, delivery_id: str) -> str:
    info = store.get_delivery(delivery_id)
    assert info is not None
    return info.state


def _decision(claimed: ClaimedDelivery) -> Decision:
    """The decision of a claimed delivery (only an alert's has none)."""
    assert claimed.decision is not None, claimed.key
    return claimed.decision


# written with the decisions


def test_record_writes_decisions_and_deliveries_together(store: Store) -> None:
    records = [decision(i) for i in range(3)]
    request = with_deliveries(records)
    store.record([request], actor="t")
    page = store.list_deliveries(DeliveryQuery(app="churn"))
    assert sorted(d.key for d in page.items) == sorted(f"{r.id}:retention_offer" for r in records)
    first = page.items[0]
    assert first.state == "pending" and first.attempts == 0 and first.history == ()
    assert first.next_attempt_at == next(r.created_at for r in records if r.id == first.decision_id)
    assert store.delivery_counts("churn") == {
        "held": 0, "pending": 3, "sending": 0, "delivered": 0, "dead": 0, "cancelled": 0,
    }  # fmt: skip
    assert store.verify_audit().ok


def test_a_failure_mid_transaction_writes_neither(store: Store) -> None:
    store.record([with_deliveries([decision(0)])], actor="t")
    before = (_count(store, decisions), _count(store, deliveries), _count(store, audit_events))
    records = [decision(1), decision(2)]
    clash = delivery(records[1], key=f"{records[0].id}:retention_offer")  # same key twice
    request = RecordRequest(records, deliveries=[delivery(records[0]), clash])
    with pytest.raises(StoreError):
        store.record([with_deliveries([decision(3)]), request], actor="t")
    after = (_count(store, decisions), _count(store, deliveries), _count(store, audit_events))
    assert after == before
    assert store.verify_audit().ok


def test_a_delivery_must_belong_to_a_decision_of_its_request(store: Store) -> None:
    stray = delivery(decision(9))
    with pytest.raises(StoreError, match="belong to a decision of their request"):
        store.record([RecordRequest([decision(1)], deliveries=[stray])], actor="t")
    assert _count(store, decisions) == 0


def test_an_idempotent_replay_writes_no_deliveries(store: Store) -> None:
    first = with_deliveries([decision(1)], idempotency_key="k", body_sha256="a" * 64)
    again = with_deliveries([decision(1)], idempotency_key="k", body_sha256="a" * 64)
    outcomes = store.record([first], actor="t") + store.record([again], actor="t")
    assert [o.status for o in outcomes] == ["recorded", "replayed"]
    assert _count(store, deliveries) == 1


# held for review


def _held(store: Store) -> tuple[str, str]:
    record = decision(1, status="pending_review")
    request = with_deliveries([record])
    store.record([request], actor="t")
    return record.id, request.deliveries[0].id


def test_held_deliveries_wait_for_the_verdict_and_approve_releases_them(store: Store) -> None:
    decision_id, delivery_id = _held(store)
    assert _state(store, delivery_id) == "held"
    assert store.claim_deliveries("w", 10, 30, now=T0) == []
    store.review(Verdict(decision_id, "approve", "fits", "rev"))
    assert _state(store, delivery_id) == "pending"
    claimed = store.claim_deliveries("w", 10, 30)
    assert [c.id for c in claimed] == [delivery_id]
    assert _decision(claimed[0]).status == "approved"


def test_override_cancels_held_and_queues_the_new_action(store: Store) -> None:
    decision_id, delivery_id = _held(store)
    record = store.get_decision(decision_id)
    assert record is not None
    new = delivery(record, action="call_customer", connector="callbacks", state="pending")
    store.review(Verdict(decision_id, "override", "VIP", "rev", "call_customer", [new]))
    old = store.get_delivery(delivery_id)
    assert old is not None and old.state == "cancelled"
    assert old.last_detail is not None and "call_customer" in old.last_detail
    claimed = store.claim_deliveries("w", 10, 30, now=T0)
    assert [(c.key, c.connector, _decision(c).final_action) for c in claimed] == [
        (f"{decision_id}:call_customer", "callbacks", "call_customer")
    ]
    assert store.verify_audit().ok


def test_override_to_none_cancels(store: Store) -> None:
    decision_id, delivery_id = _held(store)
    store.review(Verdict(decision_id, "override", "no", "rev", "none"))
    assert _state(store, delivery_id) == "cancelled"
    assert store.claim_deliveries("w", 10, 30, now=T0) == []


def test_override_to_the_same_action_releases_the_held_delivery(store: Store) -> None:
    decision_id, delivery_id = _held(store)
    record = store.get_decision(decision_id)
    assert record is not None
    same = delivery(record, state="pending")
    store.review(Verdict(decision_id, "override", "ok", "rev", record.action, [same]))
    assert _state(store, delivery_id) == "pending"
    assert _count(store, deliveries) == 1


def test_a_failed_verdict_changes_no_delivery(store: Store) -> None:
    decision_id, delivery_id = _held(store)
    record = store.get_decision(decision_id)
    assert record is not None
    other = delivery(decision(5), state="pending")  # belongs to another decision
    with pytest.raises(StoreError):
        store.review(Verdict(decision_id, "override", "x", "rev", "call_customer", [other]))
    assert _state(store, delivery_id) == "held"
    assert store.get_decision(decision_id).status == "pending_review"  # type: ignore[union-attr]


# claims and leases


def test_claim_takes_due_deliveries_oldest_first_and_counts_attempts(store: Store) -> None:
    records = [decision(i) for i in range(5)]
    later = delivery(records[4], next_attempt_at=T0 + timedelta(hours=1))
    request = RecordRequest(records, deliveries=[*(delivery(r) for r in records[:4]), later])
    store.record([request], actor="t")
    first = store.claim_deliveries("w1", 3, 30, now=T0)
    assert [_decision(c).id for c in first] == [r.id for r in records[:3]]
    assert {(c.attempts, c.number) for c in first} == {(1, 1)}
    assert {c.lease_token for c in first} != {""}
    assert first[0].lease_expires_at == T0 + timedelta(seconds=30)
    assert first[0].decision == records[0]
    second = store.claim_deliveries("w2", 10, 30, now=T0)
    assert [_decision(c).id for c in second] == [records[3].id]  # the 5th is not due yet
    third = store.claim_deliveries("w3", 10, 30, now=T0 + timedelta(hours=1))
    # the 5th is due now, and the four others' leases have expired long ago
    assert sorted((c.id, c.attempts) for c in third) == sorted(
        [(later.id, 1), *((c.id, 2) for c in first + second)]
    )
    info = store.get_delivery(first[0].id)
    assert info is not None and info.state == "sending"
    assert [(a.number, a.worker, a.outcome) for a in info.history] == [
        (1, "w1", "expired"),
        (2, "w3", None),
    ]
    assert "taken over by w3" in (info.history[0].detail or "")


def test_claim_only_for_the_apps_asked(store: Store) -> None:
    store.record([with_deliveries([decision(1, app="loans"), decision(2)])], actor="t")
    claimed = store.claim_deliveries("w", 10, 30, apps=["loans"], now=T0)
    assert [c.app for c in claimed] == ["loans"]


def test_finish_delivered_retry_dead(store: Store) -> None:
    store.record([with_deliveries([decision(i) for i in range(3)])], actor="t")
    a, b, c = store.claim_deliveries("w", 3, 30, now=T0)
    later = T0 + timedelta(minutes=5)
    ok = AttemptResult("delivered", "HTTP 200", 200)
    assert store.finish_delivery(a.id, a.lease_token, ok, None, "delivered", now=T0)
    retry = AttemptResult("retry", "HTTP 503", 503)
    assert store.finish_delivery(b.id, b.lease_token, retry, later, "pending", now=T0)
    bad = AttemptResult("failed", "HTTP 400: missing field", 400)
    assert store.finish_delivery(c.id, c.lease_token, bad, None, "dead", now=T0)
    got = {d.id: d for d in store.list_deliveries(DeliveryQuery()).items}
    assert (got[a.id].state, got[a.id].delivered_at, got[a.id].last_status) == (
        "delivered", T0, 200,
    )  # fmt: skip
    assert (got[b.id].state, got[b.id].next_attempt_at, got[b.id].attempts) == ("pending", later, 1)
    assert (got[c.id].state, got[c.id].last_detail) == ("dead", "HTTP 400: missing field")
    assert store.claim_deliveries("w", 3, 30, now=later - timedelta(seconds=1)) == []
    again = store.claim_deliveries("w", 3, 30, now=later)
    assert [(x.id, x.attempts, x.number) for x in again] == [(b.id, 2, 2)]
    history = store.get_delivery(c.id).history  # type: ignore[union-attr]
    assert [(h.outcome, h.status, h.finished_at) for h in history] == [("failed", 400, T0)]
    with pytest.raises(StoreError, match="next_attempt_at"):
        store.finish_delivery(b.id, again[0].lease_token, retry, None, "pending", now=T0)
    with pytest.raises(StoreError, match="'pending'"):
        store.finish_delivery(b.id, again[0].lease_token, retry, None, "held", now=T0)


def test_a_wrong_token_cannot_finish(store: Store) -> None:
    store.record([with_deliveries([decision(1)])], actor="t")
    (claimed,) = store.claim_deliveries("w", 1, 30, now=T0)
    result = AttemptResult("delivered")
    assert not store.finish_delivery(claimed.id, "forged", result, None, "delivered", now=T0)
    assert _state(store, claimed.id) == "sending"


def test_many_finishes_in_one_transaction_apply_each_by_its_own_lease(store: Store) -> None:
    store.record([with_deliveries([decision(i) for i in range(3)])], actor="t")
    a, b, c = store.claim_deliveries("w", 3, 30, now=T0)
    ok = AttemptResult("delivered", "HTTP 204", 204)
    applied = store.finish_deliveries(
        [
            FinishRequest(a.id, a.lease_token, ok, None, "delivered"),
            FinishRequest(b.id, "forged", ok, None, "delivered"),
            FinishRequest(c.id, c.lease_token, AttemptResult("failed", "HTTP 400"), None, "dead"),
        ],
        now=T0,
    )
    assert applied == [True, False, True]
    assert [_state(store, x.id) for x in (a, b, c)] == ["delivered", "sending", "dead"]
    assert store.finish_deliveries([], now=T0) == []


def test_alike_finishes_of_two_claims_apply_only_where_the_lease_still_holds(store: Store) -> None:
    store.record([with_deliveries([decision(i) for i in range(5)])], actor="t")
    early = store.claim_deliveries("w1", 3, 30, now=T0)
    late = store.claim_deliveries("w2", 2, 30, now=T0 + timedelta(seconds=20))
    ok = AttemptResult("delivered", "HTTP 204", 204)
    at = T0 + timedelta(seconds=31)  # the first claim's lease is over, the second's is not
    requests = [FinishRequest(c.id, c.lease_token, ok, None, "delivered") for c in early + late]
    assert store.finish_deliveries(requests, now=at) == [False] * 3 + [True] * 2
    for claimed, applied in [*((c, False) for c in early), *((c, True) for c in late)]:
        info = store.get_delivery(claimed.id)
        assert info is not None
        assert (info.state, info.delivered_at) == (
            ("delivered", at) if applied else ("sending", None)
        )
        (attempt,) = info.history
        assert (attempt.outcome, attempt.status, attempt.finished_at) == ("delivered", 204, at)
        note = "HTTP 204 (not applied: the lease had expired or was taken over)"
        assert attempt.detail == ("HTTP 204" if applied else note)


def test_alike_finishes_under_one_lease_take_one_statement_per_table(store: Store) -> None:
    store.record([with_deliveries([decision(i) for i in range(20)])], actor="t")
    claimed = store.claim_deliveries("w", 20, 30, now=T0)
    ok = AttemptResult("delivered", "HTTP 204", 204)
    statements: list[str] = []

    def count(_conn: object, _cursor: object, sql: str, *_: object) -> None:
        statements.append(sql.split()[0].upper())

    sa.event.listen(store.engine, "before_cursor_execute", count)
    try:
        requests = [FinishRequest(c.id, c.lease_token, ok, None, "delivered") for c in claimed]
        assert store.finish_deliveries(requests, now=T0) == [True] * 20
    finally:
        sa.event.remove(store.engine, "before_cursor_execute", count)
    assert statements.count("UPDATE") == 2  # deliveries, then delivery_attempts
    assert store.delivery_counts("churn")["delivered"] == 20


def test_ends_are_recorded_and_new_deliveries_claimed_in_one_commit(store: Store) -> None:
    store.record([with_deliveries([decision(i) for i in range(4)])], actor="t")
    a, b = store.claim_deliveries("w", 2, 30, now=T0)
    ok = AttemptResult("delivered", "HTTP 204", 204)
    commits: list[object] = []

    def count(conn: object) -> None:
        commits.append(conn)

    sa.event.listen(store.engine, "commit", count)
    try:
        applied, claimed = store.finish_and_claim_deliveries(
            [
                FinishRequest(a.id, a.lease_token, ok, None, "delivered"),
                FinishRequest(b.id, "forged", ok, None, "delivered"),
            ],
            "w",
            5,
            30,
            now=T0,
        )
    finally:
        sa.event.remove(store.engine, "commit", count)
    assert applied == [True, False]
    assert len(claimed) == 2 and {c.id for c in claimed}.isdisjoint({a.id, b.id})
    assert all(_decision(c).id and c.number == 1 for c in claimed)
    assert [_state(store, x.id) for x in (a, b)] == ["delivered", "sending"]
    assert len(commits) == 2  # the write, then the read of the claimed decisions
    assert store.finish_and_claim_deliveries([], "w", 5, 30, now=T0) == ([], [])


def test_an_expired_lease_is_taken_over_and_the_first_worker_cannot_finish(store: Store) -> None:
    store.record([with_deliveries([decision(1)])], actor="t")
    (first,) = store.claim_deliveries("w1", 5, 30, now=T0)
    assert store.claim_deliveries("w2", 5, 30, now=T0 + timedelta(seconds=29)) == []
    (second,) = store.claim_deliveries("w2", 5, 30, now=T0 + timedelta(seconds=31))
    assert (second.id, second.attempts, second.number) == (first.id, 2, 2)
    assert second.lease_token != first.lease_token
    late = AttemptResult("delivered", "HTTP 200", 200)
    at = T0 + timedelta(seconds=32)
    assert not store.finish_delivery(first.id, first.lease_token, late, None, "delivered", now=at)
    info = store.get_delivery(first.id)
    assert info is not None and info.state == "sending" and info.delivered_at is None
    # the attempt is recorded all the same, with what really happened
    assert [(h.number, h.worker, h.outcome) for h in info.history] == [
        (1, "w1", "delivered"),
        (2, "w2", None),
    ]
    assert "lease" in (info.history[0].detail or "")
    assert store.finish_delivery(second.id, second.lease_token, late, None, "delivered", now=at)
    assert _state(store, first.id) == "delivered"


def test_a_claim_skips_the_deliveries_its_worker_is_still_sending(store: Store) -> None:
    store.record([with_deliveries([decision(1), decision(2)])], actor="t")
    first, second = store.claim_deliveries("w1", 5, 30, now=T0)
    later = T0 + timedelta(seconds=31)  # both leases ran out; w1 still sends the first
    (again,) = store.claim_deliveries("w1", 5, 30, now=later, exclude=[first.id])
    assert again.id == second.id
    (other,) = store.claim_deliveries("w2", 5, 30, now=later)  # another worker takes it over
    assert other.id == first.id


def test_an_expired_lease_alone_stops_a_finish(store: Store) -> None:
    store.record([with_deliveries([decision(1)])], actor="t")
    (claimed,) = store.claim_deliveries("w1", 5, 30, now=T0)
    at = T0 + timedelta(seconds=31)  # nobody took it over, but the lease is gone
    result = AttemptResult("delivered")
    assert not store.finish_delivery(
        claimed.id, claimed.lease_token, result, None, "delivered", now=at
    )
    assert _state(store, claimed.id) == "sending"
    taken = store.claim_deliveries("w2", 5, 30, now=at)
    assert [h.outcome for h in store.get_delivery(taken[0].id).history] == ["delivered", None]  # type: ignore[union-attr]


def test_concurrent_claimers_never_share_a_delivery(store_url: str) -> None:
    stores = [open_store(store_url) for _ in range(2)]  # two engines: two "processes"
    try:
        stores[0].record([with_deliveries([decision(i) for i in range(60)])], actor="t")
        barrier = threading.Barrier(6)
        got: list[list[str]] = [[] for _ in range(6)]

        def work(i: int) -> None:
            barrier.wait()
            while True:
                claimed = stores[i % 2].claim_deliveries(f"w{i}", 4, 60)
                if not claimed:
                    return
                got[i].extend(c.id for c in claimed)

        threads = [threading.Thread(target=work, args=(i,)) for i in range(6)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        everything = [d for ids in got for d in ids]
        assert len(everything) == 60 == len(set(everything))
        counts = Counter(a.number for d in everything for a in stores[0].get_delivery(d).history)  # type: ignore[union-attr]
        assert counts == {1: 60}
    finally:
        for opened in stores:
            opened.close()


# operators: list, retry, cancel, connectors


def _dead(store: Store, n: int) -> list[str]:
    store.record([with_deliveries([decision(i) for i in range(n)])], actor="t")
    ids = []
    for claimed in store.claim_deliveries("w", n, 30):
        result = AttemptResult("failed", "HTTP 400", 400)
        store.finish_delivery(claimed.id, claimed.lease_token, result, None, "dead")
        ids.append(claimed.id)
    return ids


def test_dead_deliveries_are_listed_and_redriven(store: Store) -> None:
    dead = _dead(store, 3)
    store.record([with_deliveries([decision(7)])], actor="t")
    listed = store.list_deliveries(DeliveryQuery(app="churn", state="dead"))
    assert sorted(d.id for d in listed.items) == sorted(dead)
    pending = store.list_deliveries(DeliveryQuery(state="pending")).items[0].id
    changes = store.retry_deliveries([dead[0], dead[1], pending, "nope"], actor="ops")
    assert changes.changed == dead[:2]
    assert changes.skipped == {pending: "pending"} and changes.missing == ["nope"]
    info = store.get_delivery(dead[0])
    assert info is not None and (info.state, info.attempts) == ("pending", 0)
    claimed = {c.id: c for c in store.claim_deliveries("w", 10, 30)}
    assert claimed[dead[0]].attempts == 1 and claimed[dead[0]].number == 2
    assert dead[2] not in claimed
    with store.engine.connect() as conn:
        event = conn.execute(
            sa.select(audit_events).where(audit_events.c.kind == "deliveries.retried")
        ).one()
    assert event.actor == "ops" and event.payload["ids"] == dead[:2]
    assert store.verify_audit().ok


def test_cancel_deliveries(store: Store) -> None:
    dead = _dead(store, 1)
    decision_id, held = _held(store)
    store.record([with_deliveries([decision(8)])], actor="t")
    (sending,) = store.claim_deliveries("w", 1, 30)
    pending = store.list_deliveries(DeliveryQuery(state="pending"))
    changes = store.cancel_deliveries([*dead, held, sending.id], actor="ops")
    assert changes.changed == [*dead, held] and changes.skipped == {sending.id: "sending"}
    assert pending.items == []
    assert _state(store, held) == "cancelled"
    # a cancelled delivery can be sent after all
    assert store.retry_deliveries([held], actor="ops").changed == [held]
    assert store.verify_audit().ok


def test_gone_connector_is_skipped_until_enabled(store: Store) -> None:
    store.record([with_deliveries([decision(1), decision(2)])], actor="t")
    assert store.disable_connector("churn", "crm", "HTTP 410 Gone", actor="worker")
    assert not store.disable_connector("churn", "crm", "again", actor="worker")
    assert [(s.app, s.connector, s.detail) for s in store.disabled_connectors()] == [
        ("churn", "crm", "HTTP 410 Gone")
    ]
    assert store.claim_deliveries("w", 10, 30, now=T0) == []
    assert store.enable_connector("churn", "crm", actor="ops")
    assert not store.enable_connector("churn", "crm", actor="ops")
    assert store.disabled_connectors("churn") == []
    assert len(store.claim_deliveries("w", 10, 30, now=T0)) == 2
    assert store.disable_connector("churn", "crm", "gone again", actor="worker")  # re-disable
    kinds = [e for e in _kinds(store) if e.startswith("connector.")]
    assert kinds == ["connector.disabled", "connector.enabled", "connector.disabled"]
    assert store.verify_audit().ok


def _kinds(store: Store) -> list[str]:
    with store.engine.connect() as conn:
        return list(
            conn.execute(sa.select(audit_events.c.kind).order_by(audit_events.c.seq)).scalars()
        )


def test_list_filters_and_pages(store: Store) -> None:
    records = [decision(i) for i in range(7)]
    request = RecordRequest(
        records,
        deliveries=[
            delivery(r, connector="crm" if i % 2 else "mail") for i, r in enumerate(records)
        ],
    )
    store.record([request], actor="t")
    seen: list[str] = []
    cursor = None
    while True:
        page = store.list_deliveries(DeliveryQuery(app="churn", cursor=cursor, limit=3))
        seen += [d.id for d in page.items]
        cursor = page.next_cursor
        if cursor is None:
            break
    assert seen == sorted((d.id for d in request.deliveries), reverse=True)
    crm = store.list_deliveries(DeliveryQuery(connector="crm")).items
    assert len(crm) == 3 and {d.connector for d in crm} == {"crm"}
    one = store.list_deliveries(DeliveryQuery(decision_id=records[0].id)).items
    assert [d.decision_id for d in one] == [records[0].id]
    assert store.list_deliveries(DeliveryQuery(app="loans")).items == []
    with pytest.raises(InputError):
        store.list_deliveries(DeliveryQuery(cursor="garbage"))
