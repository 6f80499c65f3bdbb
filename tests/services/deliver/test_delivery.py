"""Deliveries from decisions, connectors from entry points, and the dispatcher: retries with
jitter, Retry-After, dead letters, gone connectors, leases, and the file connector end to end;
on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import logging
import random
import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from tests.store.factories import decision

import doorstep.plugins as plugins
from doorstep.connectors.base import Message, SendResult
from doorstep.core.spec.loader import SpecDocument, parse_spec
from doorstep.core.spec.models import RetrySpec
from doorstep.errors import SpecError
from doorstep.services.deliver import operations as outbox
from doorstep.services.deliver.actions import deliveries_for, delivery_key
from doorstep.services.deliver.connectors import (
    AppConnectors,
    SpecFile,
    load_connectors,
    open_app_connectors,
    secret_values,
)
from doorstep.services.deliver.dispatcher import Dispatcher, next_attempt_at
from doorstep.store import DecisionQuery, DeliveryQuery, RecordRequest, Store, open_store
from doorstep.types import Decision

SECRET = "whsec_c2VjcmV0LXRoYXQtbXVzdC1uZXZlci1sZWFr"
BROKEN = """  broken:
    connector: crm
    payload: {x: "{{ no_such_name }}"}
"""
SPEC = """
app: {name: churn, owner: maria@example.com}
model: {path: model.txt}
inputs:
  id: customer_id
  fields:
    tenure_months: {type: int}
actions:
  retention_offer:
    connector: crm
    payload:
      customer: "{{ entity_id }}"
      score: "{{ score }}"
      why: "{{ reasons_text }}"
      link: "{{ decision_url }}"
      tenure: "{{ inputs.tenure_months }}"
  call_customer:
    connector: callbacks
    payload: {customer: "{{ entity_id }}", priority: high}
  broken:
    connector: crm
    payload: {x: "{{ no_such_name }}"}
  note_only: {}
connectors:
  crm:
    type: webhook
    url: https://crm.example.com/hooks/doorstep
    secret: "${CRM_SECRET}"
    retry: {delays: [10, 60], jitter: 0.2}
  callbacks:
    type: file
    path: out/callbacks.jsonl
    retry: {delays: []}
"""
LOADABLE = SPEC.replace(BROKEN, "")
"""The spec without the action whose template cannot render (checked when connectors load)."""
T0 = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)


class Clock:
    """A clock the test moves by hand."""

    def __init__(self, now: datetime = T0) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


class Scripted:
    """A connector answering from a script (results or exceptions), then ``delivered``."""

    def __init__(self, *script: SendResult | Exception, pause: float = 0.0) -> None:
        self.script = list(script)
        self.pause = pause
        self.sent: list[Message] = []
        self.lock = threading.Lock()
        self.closed = False

    def send(self, delivery: Message) -> SendResult:
        with self.lock:
            self.sent.append(delivery)
            step = self.script.pop(0) if self.script else SendResult("delivered", "HTTP 200", 200)
        if self.pause:
            time.sleep(self.pause)
        if isinstance(step, Exception):
            raise step
        return step

    def close(self) -> None:
        self.closed = True


@pytest.fixture
def doc() -> SpecDocument:
    return parse_spec(SPEC, file="doorstep.yaml", env={"CRM_SECRET": SECRET})


def _app(doc: SpecDocument, **connectors: Any) -> AppConnectors:
    return AppConnectors(doc.spec, connectors, secret_values(doc))


def _record(store: Store, doc: SpecDocument, *records: Decision) -> list[str]:
    wanted = deliveries_for(SpecFile(doc, Path()), records)
    store.record([RecordRequest(list(records), deliveries=wanted)], actor="t")
    return [d.id for d in wanted]


@pytest.fixture
def dispatch(store: Store) -> Iterator[Any]:
    """Make dispatchers on ``store`` with a hand-moved clock (closed afterwards)."""
    made: list[Dispatcher] = []

    def make(*apps: AppConnectors, **options: Any) -> Dispatcher:
        options.setdefault("clock", Clock())
        options.setdefault("rng", random.Random(7))
        dispatcher = Dispatcher(store, list(apps), **options)
        made.append(dispatcher)
        return dispatcher

    yield make
    for dispatcher in made:
        dispatcher.close()


# which decisions get deliveries


def test_deliveries_for_decisions(doc: SpecDocument) -> None:
    records = [
        decision(1),
        decision(2, status="pending_review"),
        decision(3, status="held_out"),
        decision(4, action="none"),
        decision(5, action="note_only"),
        decision(6, action="call_customer"),
    ]
    made = deliveries_for(SpecFile(doc, Path()), records)
    assert [(d.decision_id, d.action, d.connector, d.state) for d in made] == [
        (records[0].id, "retention_offer", "crm", "pending"),
        (records[1].id, "retention_offer", "crm", "held"),
        (records[5].id, "call_customer", "callbacks", "pending"),
    ]
    assert made[0].key == delivery_key(records[0].id, "retention_offer")
    assert made[0].key == f"{records[0].id}:retention_offer" and len(made[0].key) <= 255
    assert len({d.id for d in made}) == 3


def test_control_decisions_deliver_nothing(store: Store, doc: SpecDocument, dispatch: Any) -> None:
    crm = Scripted()
    _record(store, doc, decision(1, status="held_out"), decision(2, status="held_out"))
    assert dispatch(_app(doc, crm=crm)).drain() == []
    assert crm.sent == [] and store.list_deliveries(DeliveryQuery()).items == []
    assert len(store.list_decisions(DecisionQuery(app="churn")).items) == 2


# connectors from entry points


def test_secret_values_come_from_the_environment(doc: SpecDocument) -> None:
    assert secret_values(doc) == {SECRET}


def test_load_connectors_through_entry_points(tmp_path: Path) -> None:
    text = LOADABLE.split("connectors:")[0].replace("connector: crm", "connector: callbacks")
    text += "connectors:\n  callbacks: {type: file, path: out/callbacks.jsonl}\n"
    doc = parse_spec(text, env={})
    built = load_connectors(SpecFile(doc, tmp_path))
    assert type(built["callbacks"]).__name__ == "FileConnector"
    factory: object = plugins.connector_factory("file")  # a ConnectorFactory is also a Connector
    assert type(built["callbacks"]) is factory


def test_a_type_without_entry_point_is_named(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    doc = parse_spec(LOADABLE, file="doorstep.yaml", env={"CRM_SECRET": SECRET})
    installed = plugins._connector_entry_points()
    monkeypatch.setattr(
        plugins,
        "_connector_entry_points",
        lambda: {k: v for k, v in installed.items() if k != "webhook"},
    )
    with pytest.raises(SpecError) as caught:
        load_connectors(SpecFile(doc, tmp_path))
    message = caught.value.message
    assert "connectors.crm.type" in message
    assert "No connector of type 'webhook' is installed (connector 'crm')" in message
    assert "Installed types: chat, email, file, mqtt, nats, rabbitmq, redis, sql" in message


def test_refused_connector_settings_point_at_their_key_and_line(tmp_path: Path) -> None:
    text = LOADABLE.split("connectors:")[0] + (
        "connectors:\n"
        "  crm:\n"
        "    type: webhook\n"
        "    url: https://crm.example.com/hooks\n"
        "    allow_networks:\n"
        "      - 10.0.0.0/8\n"
        "      - 10.20.0.1/16\n"
        "  callbacks: {type: file, path: out/callbacks.jsonl}\n"
    )
    doc = parse_spec(text, file="app.yaml", env={})
    with pytest.raises(SpecError) as caught:
        load_connectors(SpecFile(doc, tmp_path))
    (issue,) = caught.value.issues
    assert issue.key == "connectors.crm.allow_networks[1]"
    assert issue.line == text.splitlines().index("      - 10.20.0.1/16") + 1


# the dispatcher


def test_delivered_with_rendered_payload(store: Store, doc: SpecDocument, dispatch: Any) -> None:
    crm = Scripted()
    record = decision(3, score=0.87)
    (delivery_id,) = _record(store, doc, record)
    dispatcher = dispatch(_app(doc, crm=crm), public_url="https://doorstep.example.com/")
    (report,) = dispatcher.run_once()
    assert (report.outcome, report.state, report.applied, report.attempt) == (
        "delivered", "delivered", True, 1,
    )  # fmt: skip
    (sent,) = crm.sent
    assert sent.key == f"{record.id}:retention_offer" and sent.id == delivery_id
    assert sent.payload == {
        "customer": "C-3",
        "score": 0.87,
        "why": record.reasons_text,
        "link": f"https://doorstep.example.com/decisions/{record.id}",
        "tenure": 3,
    }
    assert sent.context["created_at"] == record.created_at.isoformat(timespec="microseconds")
    assert sent.context["reasons"][0]["sentence"].startswith("Months as a customer")
    info = store.get_delivery(delivery_id)
    assert info is not None and info.state == "delivered" and info.last_status == 200
    assert [(h.number, h.outcome, h.worker) for h in info.history] == [
        (1, "delivered", dispatcher.worker)
    ]
    assert dispatcher.run_once() == []


def test_retry_schedule_with_jitter_then_dead(
    store: Store, doc: SpecDocument, dispatch: Any
) -> None:
    unavailable = SendResult("retry", "HTTP 503", 503)
    crm = Scripted(unavailable, unavailable, unavailable)
    (delivery_id,) = _record(store, doc, decision(1))
    clock = Clock()
    dispatcher = dispatch(_app(doc, crm=crm), clock=clock)
    (first,) = dispatcher.run_once()
    assert first.state == "pending" and first.next_attempt_at is not None
    assert T0 + timedelta(seconds=8) <= first.next_attempt_at <= T0 + timedelta(seconds=12)
    clock.now = first.next_attempt_at - timedelta(milliseconds=1)
    assert dispatcher.run_once() == []  # not due yet
    clock.now = first.next_attempt_at
    (second,) = dispatcher.run_once()
    assert second.next_attempt_at is not None
    assert clock.now + timedelta(seconds=48) <= second.next_attempt_at
    assert second.next_attempt_at <= clock.now + timedelta(seconds=72)
    clock.now = second.next_attempt_at
    (third,) = dispatcher.run_once()
    assert (third.state, third.next_attempt_at) == ("dead", None)
    assert "gave up after 3 attempts" in third.detail
    info = store.get_delivery(delivery_id)
    assert info is not None and (info.state, info.attempts) == ("dead", 3)
    assert [h.outcome for h in info.history] == ["retry"] * 3
    assert len(crm.sent) == 3 and {d.key for d in crm.sent} == {crm.sent[0].key}
    assert [d.attempt for d in crm.sent] == [1, 2, 3]


def test_jitter_stays_within_its_bounds() -> None:
    rng = random.Random(1)
    retry = RetrySpec(delays=[100, 1000], jitter=0.2)
    waits = [
        (next_attempt_at(1, retry, T0, rng=rng) - T0).total_seconds()  # type: ignore[operator]
        for _ in range(2000)
    ]
    assert 80 <= min(waits) < 82 and 118 < max(waits) <= 120
    assert 95 < sum(waits) / len(waits) < 105
    second = next_attempt_at(2, retry, T0, rng=rng)
    assert second is not None and 800 <= (second - T0).total_seconds() <= 1200
    assert next_attempt_at(3, retry, T0, rng=rng) is None
    exact = RetrySpec(delays=[5], jitter=0)
    assert next_attempt_at(1, exact, T0) == T0 + timedelta(seconds=5)
    assert next_attempt_at(1, RetrySpec(delays=[]), T0) is None


def test_retry_after_is_respected(store: Store, doc: SpecDocument, dispatch: Any) -> None:
    crm = Scripted(
        SendResult("retry", "HTTP 429", 429, retry_after=300),
        SendResult("retry", "HTTP 429", 429, retry_after=1),
    )
    _record(store, doc, decision(1))
    clock = Clock()
    dispatcher = dispatch(_app(doc, crm=crm), clock=clock)
    (slow,) = dispatcher.run_once()
    assert slow.next_attempt_at == T0 + timedelta(seconds=300)
    clock.now = slow.next_attempt_at
    (quick,) = dispatcher.run_once()  # the schedule's 60 s +-20% is longer than 1 s
    assert quick.next_attempt_at is not None
    assert quick.next_attempt_at >= clock.now + timedelta(seconds=48)
    capped = next_attempt_at(1, RetrySpec(delays=[1]), T0, retry_after=10**9)
    assert capped == T0 + timedelta(days=1)


def test_failed_is_dead_at_once(store: Store, doc: SpecDocument, dispatch: Any) -> None:
    crm = Scripted(SendResult("failed", "HTTP 422: customer unknown", 422))
    (delivery_id,) = _record(store, doc, decision(1))
    (report,) = dispatch(_app(doc, crm=crm)).run_once()
    assert (report.state, report.status) == ("dead", 422)
    info = store.get_delivery(delivery_id)
    assert info is not None and (info.state, info.attempts, info.last_status) == ("dead", 1, 422)
    assert info.last_detail == "HTTP 422: customer unknown"


def test_gone_disables_the_connector_until_enabled(
    store: Store, doc: SpecDocument, dispatch: Any, tmp_path: Path
) -> None:
    crm = Scripted(SendResult("gone", "HTTP 410", 410))
    callbacks = Scripted()
    first, _second = _record(store, doc, decision(1), decision(2))
    dispatcher = dispatch(_app(doc, crm=crm, callbacks=callbacks), concurrency=1)
    (report,) = dispatcher.run_once()
    assert (report.delivery_id, report.state) == (first, "dead")
    assert [(s.app, s.connector) for s in store.disabled_connectors()] == [("churn", "crm")]
    _record(store, doc, decision(3, action="call_customer"))
    assert [r.connector for r in dispatcher.drain()] == ["callbacks"]  # crm is skipped
    assert store.delivery_counts("churn")["pending"] == 1
    assert outbox.enable_connector(store, "churn", "crm", actor="ops")
    assert [(r.connector, r.state) for r in dispatcher.drain()] == [("crm", "delivered")]
    assert len(crm.sent) == 2


def test_a_connector_exception_is_a_retry_without_secrets(
    store: Store, doc: SpecDocument, dispatch: Any, caplog: pytest.LogCaptureFixture
) -> None:
    crm = Scripted(ConnectionError(f"refused by https://crm.example.com?key={SECRET}"))
    (delivery_id,) = _record(store, doc, decision(1))
    with caplog.at_level(logging.INFO, logger="doorstep.deliveries"):
        (report,) = dispatch(_app(doc, crm=crm)).run_once()
    assert report.state == "pending"
    assert (
        report.detail
        == "the connector raised ConnectionError: refused by https://crm.example.com?key=***"
    )
    info = store.get_delivery(delivery_id)
    assert info is not None and info.last_detail == report.detail
    assert SECRET not in caplog.text and "outcome=retry" in caplog.text
    (line,) = [r for r in caplog.records if r.getMessage().startswith("delivery attempt")]
    assert line.levelno == logging.WARNING and f"id={delivery_id}" in line.getMessage()
    assert line.delivery["state"] == "pending"  # type: ignore[attr-defined]
    # values with spaces, quotes or '=' are JSON strings; the others are written as they are
    assert line.getMessage().endswith(f' detail="{report.detail}"')
    assert " state=pending " in line.getMessage()


def test_a_template_error_is_dead_and_names_the_template(
    store: Store, doc: SpecDocument, dispatch: Any
) -> None:
    crm = Scripted()
    _record(store, doc, decision(1, action="broken"))
    (report,) = dispatch(_app(doc, crm=crm)).run_once()
    assert report.state == "dead" and crm.sent == []
    assert "actions.broken.payload.x" in report.detail and "no_such_name" in report.detail


def test_a_connector_gone_from_the_spec_is_dead(
    store: Store, doc: SpecDocument, dispatch: Any
) -> None:
    _record(store, doc, decision(1))
    (report,) = dispatch(_app(doc)).run_once()  # the spec's crm is not built
    assert report.state == "dead" and "connector 'crm' is no longer in the spec" in report.detail


def test_on_attempt_sees_every_attempt_and_its_send_time(
    store: Store, doc: SpecDocument, dispatch: Any, caplog: pytest.LogCaptureFixture
) -> None:
    seen: list[tuple[str, str, float]] = []

    def hook(report: Any, seconds: float) -> None:
        seen.append((report.action, report.outcome, seconds))
        raise RuntimeError("a broken hook")  # logged; the attempt still counts

    crm = Scripted(SendResult("retry", "HTTP 503", 503), pause=0.05)
    _record(store, doc, decision(1), decision(2, action="broken"))
    with caplog.at_level(logging.ERROR, logger="doorstep.deliveries"):
        reports = dispatch(_app(doc, crm=crm), on_attempt=hook).run_once()
    assert sorted(r.state for r in reports) == ["dead", "pending"]
    assert sorted(seen)[0][:2] == ("broken", "failed") and sorted(seen)[0][2] == 0.0
    assert sorted(seen)[1][:2] == ("retention_offer", "retry") and sorted(seen)[1][2] >= 0.05
    assert caplog.text.count("the on_attempt hook failed") == 2


def test_dead_deliveries_are_redriven(store: Store, doc: SpecDocument, dispatch: Any) -> None:
    crm = Scripted(*[SendResult("failed", "HTTP 400", 400)] * 2)
    ids = _record(store, doc, decision(1), decision(2))
    dispatcher = dispatch(_app(doc, crm=crm))
    assert [r.state for r in dispatcher.drain()] == ["dead", "dead"]
    dead = outbox.list_deliveries(store, app="churn", state="dead")
    assert sorted(d.id for d in dead.items) == sorted(ids)
    changes = outbox.retry_dead(store, "churn", actor="ops")
    assert sorted(changes.changed) == sorted(ids)
    reports = dispatcher.drain()
    assert [(r.state, r.attempt) for r in reports] == [("delivered", 2), ("delivered", 2)]
    info = outbox.get_delivery(store, ids[0])
    assert [h.outcome for h in info.history] == ["failed", "delivered"] and info.attempts == 1


def test_an_expired_lease_is_taken_over_by_another_worker(
    store: Store, doc: SpecDocument, dispatch: Any
) -> None:
    (delivery_id,) = _record(store, doc, decision(1))
    store.claim_deliveries("crashed", 10, 120, now=T0)  # a worker that never finishes
    crm = Scripted()
    clock = Clock()
    dispatcher = dispatch(_app(doc, crm=crm), clock=clock)
    assert dispatcher.run_once() == []
    clock.advance(121)
    (report,) = dispatcher.run_once()
    assert (report.state, report.attempt, report.applied) == ("delivered", 2, True)
    info = store.get_delivery(delivery_id)
    assert info is not None and [(h.worker, h.outcome) for h in info.history] == [
        ("crashed", "expired"),
        (dispatcher.worker, "delivered"),
    ]


def test_a_send_that_outlives_its_lease_is_not_applied(
    store: Store, doc: SpecDocument, dispatch: Any
) -> None:
    (delivery_id,) = _record(store, doc, decision(1))
    clock = Clock()

    class Slow(Scripted):
        def send(self, delivery: Message) -> SendResult:
            clock.advance(500)  # longer than the lease
            return super().send(delivery)

    dispatcher = dispatch(_app(doc, crm=Slow()), clock=clock)
    (report,) = dispatcher.run_once()
    assert (report.outcome, report.applied) == ("delivered", False)
    info = store.get_delivery(delivery_id)
    assert info is not None and info.state == "sending"  # left for another worker to resend
    assert info.history[0].outcome == "delivered" and "lease" in (info.history[0].detail or "")


def test_a_dispatcher_never_claims_again_what_it_is_still_sending(
    store: Store, doc: SpecDocument
) -> None:
    clock = Clock()
    release = threading.Event()

    class Stuck(Scripted):
        """Ignores its deadline (as a plugin may) and outlives its lease."""

        arrived: list[str] = []

        def send(self, delivery: Message) -> SendResult:
            self.arrived.append(delivery.key)
            clock.advance(500)
            release.wait(10)
            return super().send(delivery)

    crm = Stuck()
    (delivery_id,) = _record(store, doc, decision(1))
    dispatcher = Dispatcher(
        store, [_app(doc, crm=crm)], clock=clock, poll_interval=0.02, max_idle=0.05
    )
    stop = threading.Event()
    thread = threading.Thread(target=dispatcher.run_forever, args=(stop,))
    thread.start()
    try:
        while not crm.arrived:
            time.sleep(0.01)
        time.sleep(0.5)  # claims go on meanwhile; the lease ran out long ago
        assert len(crm.arrived) == 1
        info = store.get_delivery(delivery_id)
        assert info is not None and info.state == "sending"
        assert [(h.worker, h.outcome) for h in info.history] == [(dispatcher.worker, None)]
    finally:
        stop.set()
        release.set()
        thread.join(timeout=10)
        dispatcher.close()


def test_each_attempt_gets_a_deadline_before_its_lease_ends(
    store: Store, doc: SpecDocument, dispatch: Any
) -> None:
    crm = Scripted()
    _record(store, doc, decision(1))
    dispatcher = dispatch(_app(doc, crm=crm), lease_seconds=40)
    started = time.monotonic()
    dispatcher.run_once()
    (sent,) = crm.sent
    assert sent.deadline is not None and not sent.deadline.expired
    assert started + 30 - 1 < sent.deadline.at <= time.monotonic() + 30  # 3/4 of the lease


def test_expired_leases_count_as_attempts(store: Store, doc: SpecDocument, dispatch: Any) -> None:
    (delivery_id,) = _record(store, doc, decision(1))
    for i in range(3):  # the crm schedule allows 3 attempts; three workers died mid-send
        store.claim_deliveries(f"crashed{i}", 10, 120, now=T0 + timedelta(seconds=200 * i))
    crm = Scripted()
    dispatcher = dispatch(_app(doc, crm=crm), clock=Clock(T0 + timedelta(seconds=600)))
    (report,) = dispatcher.run_once()
    assert report.state == "dead" and crm.sent == []
    assert "3 attempts ended without a result" in report.detail


def test_two_dispatchers_send_each_delivery_once(store_url: str, doc: SpecDocument) -> None:
    stores = [open_store(store_url) for _ in range(2)]
    connectors = [Scripted(pause=0.005), Scripted(pause=0.005)]
    dispatchers = [
        Dispatcher(s, [_app(doc, crm=c)], concurrency=3)
        for s, c in zip(stores, connectors, strict=True)
    ]
    try:
        _record(stores[0], doc, *(decision(i) for i in range(40)))
        barrier = threading.Barrier(2)

        def work(d: Dispatcher) -> None:
            barrier.wait()
            d.drain()

        threads = [threading.Thread(target=work, args=(d,)) for d in dispatchers]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        keys = [d.key for c in connectors for d in c.sent]
        assert len(keys) == 40 == len(set(keys))
        assert all(c.sent for c in connectors)  # both took part
        assert stores[0].delivery_counts()["delivered"] == 40
    finally:
        for dispatcher in dispatchers:
            dispatcher.close()
        for opened in stores:
            opened.close()


def test_run_forever_sends_until_stopped(store: Store, doc: SpecDocument) -> None:
    crm = Scripted()
    dispatcher = Dispatcher(store, [_app(doc, crm=crm)], poll_interval=0.05, max_idle=0.2)
    stop = threading.Event()
    thread = threading.Thread(target=dispatcher.run_forever, args=(stop,))
    thread.start()
    try:
        _record(store, doc, decision(1), decision(2))
        dispatcher.wake()
        deadline = datetime.now(UTC) + timedelta(seconds=10)
        while store.delivery_counts()["delivered"] < 2 and datetime.now(UTC) < deadline:
            stop.wait(0.02)
        assert store.delivery_counts()["delivered"] == 2
    finally:
        stop.set()
        thread.join(timeout=10)
        dispatcher.close()
    assert not thread.is_alive() and crm.closed


def test_a_backlog_is_claimed_in_groups_not_one_by_one(store: Store, doc: SpecDocument) -> None:
    class CountingStore:
        """The store, counting the claims that took something."""

        def __init__(self) -> None:
            self.sizes: list[int] = []

        def __getattr__(self, name: str) -> Any:
            return getattr(store, name)

        def finish_and_claim_deliveries(self, *args: Any, **kwargs: Any) -> Any:
            applied, claimed = store.finish_and_claim_deliveries(*args, **kwargs)
            if claimed:
                self.sizes.append(len(claimed))
            return applied, claimed

    _record(store, doc, *(decision(i) for i in range(60)))
    counting = CountingStore()
    crm = Scripted(pause=0.01)  # sends end one by one, spread out
    dispatcher = Dispatcher(counting, [_app(doc, crm=crm)], concurrency=8)
    assert dispatcher.claim_batch == 2
    stop = threading.Event()
    thread = threading.Thread(target=dispatcher.run_forever, args=(stop,))
    thread.start()
    try:
        deadline = time.monotonic() + 20
        while store.delivery_counts()["delivered"] < 60 and time.monotonic() < deadline:
            stop.wait(0.02)
    finally:
        stop.set()
        thread.join(timeout=10)
        dispatcher.close()
    assert store.delivery_counts()["delivered"] == 60
    assert len({d.key for d in crm.sent}) == len(crm.sent) == 60
    assert counting.sizes[0] == 8  # all threads were free
    # while more was due, a claim waited for two free threads: only the last may take one
    assert min(counting.sizes[:-1]) >= 2
    assert len(counting.sizes) <= 1 + (60 - 8) // 2 + 1


def test_the_file_connector_end_to_end(store: Store, doc: SpecDocument, tmp_path: Path) -> None:
    text = LOADABLE.split("connectors:")[0] + (
        "connectors:\n"
        "  crm: {type: file, path: out/crm.jsonl}\n"
        "  callbacks: {type: file, path: out/callbacks.jsonl}\n"
    )
    file_doc = parse_spec(text, env={})
    records = [decision(1), decision(2, action="call_customer"), decision(3, status="held_out")]
    _record(store, file_doc, *records)
    app = open_app_connectors(SpecFile(file_doc, tmp_path))
    with Dispatcher(store, [app]) as dispatcher:
        assert sorted(r.state for r in dispatcher.drain()) == ["delivered", "delivered"]
        assert dispatcher.drain() == []
    crm = [json.loads(line) for line in (tmp_path / "out/crm.jsonl").read_text().splitlines()]
    assert [(r["customer"], r["_delivery"]) for r in crm] == [
        ("C-1", f"{records[0].id}:retention_offer")
    ]
    calls = (tmp_path / "out/callbacks.jsonl").read_text().splitlines()
    assert [json.loads(c)["priority"] for c in calls] == ["high"]


def test_the_file_connector_skips_a_resend(store: Store, tmp_path: Path) -> None:
    text = LOADABLE.split("connectors:")[0] + (
        "connectors:\n"
        "  crm: {type: file, path: crm.jsonl}\n"
        "  callbacks: {type: file, path: c.jsonl}\n"
    )
    file_doc = parse_spec(text, env={})
    _record(store, file_doc, decision(1))
    clock = Clock()

    app = open_app_connectors(SpecFile(file_doc, tmp_path))
    original = app.connectors["crm"].send

    def slow_send(delivery: Message) -> SendResult:
        result = original(delivery)
        clock.advance(1000)  # appended, but the lease ran out before the result was recorded
        return result

    first_app = replace(app, connectors={**app.connectors, "crm": _Wrapped(slow_send)})
    with Dispatcher(store, [first_app], clock=clock) as slow:
        (lost,) = slow.run_once()
    assert not lost.applied
    with Dispatcher(store, [app], clock=clock) as second:  # another worker takes it over
        (resent,) = second.run_once()
    assert (resent.state, resent.attempt) == ("delivered", 2)
    assert "already in crm.jsonl" in resent.detail
    assert len((tmp_path / "crm.jsonl").read_text().splitlines()) == 1


class _Wrapped:
    def __init__(self, send: Any) -> None:
        self.send = send

    def close(self) -> None:
        pass


@pytest.mark.slow
def test_verdicts_release_or_retarget_held_deliveries(
    churn_app: Path, store: Store, dispatch: Any
) -> None:
    from doorstep.services.apps.loading import load_app
    from doorstep.services.apps.registry import Registry
    from doorstep.services.review.verdicts import review_decision

    app = load_app(churn_app / "doorstep.yaml")
    registry = Registry({app.name: app})
    approve, override, drop = (decision(i, status="pending_review") for i in range(3))
    wanted = deliveries_for(app, [approve, override, drop])
    assert {d.state for d in wanted} == {"held"}
    store.record([RecordRequest([approve, override, drop], deliveries=wanted)], actor="t")
    assert dispatch(AppConnectors(app.spec, {})).run_once() == []  # nothing leaves while held
    review_decision(registry, store, approve.id, verdict="approve", reason="fits", actor="rev")
    review_decision(
        registry, store, override.id, verdict="override", reason="VIP", actor="rev",
        action="call_customer",
    )  # fmt: skip
    review_decision(
        registry, store, drop.id, verdict="override", reason="no", actor="rev", action="none"
    )
    states = {
        (d.decision_id, d.action, d.connector): d.state
        for d in store.list_deliveries(DeliveryQuery(app="churn")).items
    }
    assert states == {
        (approve.id, "retention_offer", "crm"): "pending",
        (override.id, "retention_offer", "crm"): "cancelled",
        (override.id, "call_customer", "callbacks"): "pending",
        (drop.id, "retention_offer", "crm"): "cancelled",
    }
    built = load_connectors(app)  # the spec's real file connector for the callbacks
    built.pop("crm").close()
    crm = Scripted()
    dispatcher = dispatch(AppConnectors(app.spec, {"crm": crm, **built}))
    assert sorted((r.connector, r.state) for r in dispatcher.drain()) == [
        ("callbacks", "delivered"),
        ("crm", "delivered"),
    ]
    assert [d.context["entity_id"] for d in crm.sent] == [approve.entity_id]
    assert crm.sent[0].context["status"] == "approved"
    (line,) = (churn_app / "callbacks.jsonl").read_text().splitlines()
    assert json.loads(line) == {
        "customer": override.entity_id,
        "priority": "high",
        "_delivery": f"{override.id}:call_customer",
        "_decision_id": override.id,
    }
