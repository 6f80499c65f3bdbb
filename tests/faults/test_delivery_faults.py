"""Faults of the delivery pipeline, with real parts: the churn example's spec, the webhook
connector, an HTTP receiver that verifies Standard Webhooks signatures with the
``standardwebhooks`` package, ``doorstep worker`` and ``doorstep serve`` processes killed with
SIGKILL, SQLite files and PostgreSQL.

1. the target down (connection refused), then answering 503, then up: retried on the connector's
   schedule, never early, in the order the retries come due, until delivered;
2. ``kill -9`` of a worker mid-send, five times: nothing lost, resends carry the same key and
   body, a dead worker's deliveries are taken over once its lease ends, within a poll of a
   thread coming free;
3. ``kill -9`` of a server (``--no-deliver``) mid-batch: each stored decision has exactly the
   delivery its action calls for, and no delivery lacks its decision;
4. two workers on one PostgreSQL, 1,000 deliveries: each sent once, by one worker;
5. a retry 10 minutes after a 503 is signed afresh (same ``webhook-id``) and accepted.

Every wait is bounded; every process is killed at teardown, also when a test fails. The parts
are in ``conftest.py``.
"""

from __future__ import annotations

import asyncio
import os
import random
import signal
import threading
import time
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
import standardwebhooks.webhooks as standard_webhooks
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError
from tests.connectors.receivers import Receiver, Reply
from tests.faults.conftest import (
    HOOK,
    OK,
    SECRET,
    Clock,
    Spawn,
    assert_every_request_verified,
    assert_one_worker_at_a_time,
    attempts_by_delivery,
    crm_env,
    delivery_states,
    kill_9,
    record_deliveries,
    stop,
    tail,
    wait_until,
    with_crm,
)
from tests.web.conftest import customer
from tests.web.test_serve_process import free_port

from doorstep.connectors.base import ConnectorContext
from doorstep.connectors.webhook import WebhookConnector
from doorstep.core.spec.models import WebhookConnectorSpec
from doorstep.services.apps.loading import read_spec
from doorstep.services.deliver.connectors import AppConnectors, read_app_connectors, secret_values
from doorstep.services.deliver.dispatcher import Dispatcher
from doorstep.store import DeliveryRecord, Store, open_store
from doorstep.store.tables import decisions, deliveries

# 1. down, then 503, then up


def test_a_target_down_then_failing_then_up_gets_every_action_on_schedule(
    churn_app: Path, tmp_path: Path
) -> None:
    delays = (10.0, 60.0)
    spec = with_crm(churn_app, timeout="2", retry="{delays: [10, 60, 600], jitter: 0.1}")
    port = free_port()  # nothing listens here yet: connection refused
    env = crm_env(f"http://127.0.0.1:{port}{HOOK}")
    with open_store(f"sqlite:///{tmp_path / 'doorstep.db'}") as store:
        keys = {d.id: d.key for d in record_deliveries(store, spec, env, 5)}
        clock = Clock(datetime.now(UTC))
        (app,) = read_app_connectors([spec], env)
        with Dispatcher(store, [app], clock=clock, rng=random.Random(5)) as dispatcher:
            refused = dispatcher.run_once()
            assert sorted(r.delivery_id for r in refused) == sorted(keys)
            assert {(r.outcome, r.state, r.status) for r in refused} == {("retry", "pending", None)}
            assert all("connection to http://127.0.0.1" in r.detail for r in refused)
            due = {r.delivery_id: r.next_attempt_at for r in refused}
            assert all(_waits(clock.now, when, delays[0]) for when in due.values())
            with Receiver(secrets=[SECRET], port=port) as receiver:
                receiver.script(HOOK, *[Reply(503, b"busy")] * 5, Reply(200, OK))
                due = _send_as_each_comes_due(dispatcher, clock, due, "retry", delays[1])
                assert _send_as_each_comes_due(dispatcher, clock, due, "delivered") == {}
        history = attempts_by_delivery(store)
        assert set(delivery_states(store).values()) == {"delivered"}
    assert {i: [a.outcome for a in history[i]] for i in keys} == {
        i: ["retry", "retry", "delivered"] for i in keys
    }
    for rows in history.values():
        assert "connection to" in rows[0].detail and rows[1].status == 503
        for before, after, delay in zip(rows, rows[1:], delays, strict=False):
            assert _waits(before.finished_at, after.started_at, delay)
    assert receiver.webhook_ids(HOOK) == {key: 2 for key in keys.values()}  # 503, then 200
    assert_every_request_verified(receiver)


def _send_as_each_comes_due(
    dispatcher: Dispatcher,
    clock: Clock,
    due: dict[str, datetime | None],
    outcome: str,
    next_delay: float | None = None,
) -> dict[str, datetime | None]:
    """Move the clock to each due time in turn: just before it nothing is sent; at it, exactly
    the delivery due then, with ``outcome``. Returns when each one is due again (after
    ``next_delay`` with the jitter)."""
    again: dict[str, datetime | None] = {}
    for delivery_id, moment in sorted(due.items(), key=lambda item: item[1] or clock.now):
        assert moment is not None
        clock.now = moment - timedelta(milliseconds=1)
        assert dispatcher.run_once() == [], "sent before its retry was due"
        clock.now = moment
        (report,) = dispatcher.run_once()
        assert (report.delivery_id, report.outcome) == (delivery_id, outcome)
        if next_delay is None:
            assert report.next_attempt_at is None
        else:
            assert _waits(moment, report.next_attempt_at, next_delay)
            again[delivery_id] = report.next_attempt_at
    return again


def _waits(start: datetime, end: datetime | None, delay: float, jitter: float = 0.1) -> bool:
    """Whether ``end`` is ``delay`` seconds after ``start``, give or take the jitter."""
    assert end is not None
    waited = (end - start).total_seconds()
    return delay * (1 - jitter) - 1e-3 <= waited <= delay * (1 + jitter) + 1e-3


# 2. kill -9 of the worker, five times


LEASE, POLL, SLOW_REPLY, THREADS = 4.0, 0.2, 1.0, 96
REACTION = 2.0
"""Seconds a busy worker may take beyond a poll to claim what came due (claim interval,
scheduling, the SQLite writer lock shared with the test's feeder), on a busy 2-core machine."""


class _Feeder:
    """Records a delivery every 0.1 s from a thread, like a server deciding steadily."""

    def __init__(self, store: Store, spec: Path, env: dict[str, str]) -> None:
        self.store, self.spec, self.env = store, spec, env
        self.made: list[DeliveryRecord] = []
        self.error: BaseException | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> _Feeder:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join(timeout=30)
        assert not self._thread.is_alive()
        if self.error is not None:
            raise self.error

    def _run(self) -> None:
        try:
            while not self._stop.wait(0.1):
                self.made += record_deliveries(
                    self.store, self.spec, self.env, 1, start=len(self.made)
                )
        except BaseException as exc:  # raised in the test's thread on exit
            self.error = exc


@pytest.mark.slow
def test_kill_9_of_a_worker_mid_send_loses_nothing_and_resends_the_same_key(
    churn_app: Path, tmp_path: Path, spawn: Spawn
) -> None:
    spec = with_crm(churn_app, timeout="2", retry="{delays: [0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5]}")
    url = f"sqlite:///{tmp_path / 'doorstep.db'}"
    log = tmp_path / "worker.log"
    args = ["worker", str(spec), "--db", url, "--concurrency", str(THREADS), "--poll", str(POLL)]
    args += ["--lease-seconds", str(LEASE)]
    killed_mid_send: list[int] = []
    with Receiver(secrets=[SECRET]) as receiver, open_store(url) as store:
        receiver.script(HOOK, Reply(200, OK, delay=SLOW_REPLY))
        env = crm_env(receiver.url(HOOK))
        with _Feeder(store, spec, env) as feeder:
            # kill after the new worker sent a few or many, and a little later still
            for sent, pause in zip((1, 6, 15, 3, 25), (0.0, 0.4, 0.8, 0.2, 0.6), strict=True):
                before = len(receiver.requests_to(HOOK))
                spawned = time.monotonic()
                worker = spawn(*args, env=env, log="worker.log")

                def reached(n: int = before + sent) -> bool:
                    return len(receiver.requests_to(HOOK)) >= n

                wait_until(
                    reached,
                    60,
                    f"the worker sending {sent} requests",
                    log,
                )
                time.sleep(pause)
                killed_mid_send.append(receiver.in_progress_since(spawned))
                kill_9(worker)
            worker = spawn(*args, env=env, log="worker.log")
            time.sleep(LEASE + 2)  # decisions keep coming while the last leases run out
        made = {d.key: d for d in feeder.made}
        wait_until(
            lambda: (
                sorted(set(delivery_states(store).values())) == ["delivered"]
                and len(delivery_states(store)) == len(made)
            ),
            60,
            "every delivery delivered",
            log,
        )
        stop(worker, log)
        history = attempts_by_delivery(store)
    assert all(killed_mid_send), f"a kill landed with no send in flight: {killed_mid_send}"
    seen = receiver.webhook_ids(HOOK)
    assert set(seen) == set(made), "the receiver missed a key (or got an unknown one)"
    outcomes = {d.key: [a.outcome for a in history[d.id]] for d in made.values()}
    orphaned = {key for key, tried in outcomes.items() if "expired" in tried}
    assert_every_request_verified(receiver, cut=orphaned)
    resent = {key for key, count in seen.items() if count > 1}
    assert all({"expired", "retry"} & set(outcomes[key]) for key in resent), (
        "sent twice although no worker died and no answer was lost"
    )
    expired = [
        (i, n) for i, rows in history.items() for n, a in enumerate(rows) if a.outcome == "expired"
    ]
    assert len({history[i][n].worker for i, n in expired}) == 5, "each kill left a send behind"
    assert_one_worker_at_a_time(history, LEASE)
    by_worker: dict[str, list[Any]] = defaultdict(list)
    for rows in history.values():
        for a in rows:
            by_worker[a.worker].append(a)
    for delivery_id, n in expired:
        orphan, taker = history[delivery_id][n], history[delivery_id][n + 1]
        lease_end = orphan.started_at + timedelta(seconds=LEASE)
        idle = _longest_idle(by_worker[taker.worker], lease_end, taker.started_at)
        assert idle <= POLL + REACTION, (
            f"{delivery_id} was due for {idle:.2f} s while its next worker had a thread free"
        )


def _longest_idle(attempts: list[Any], due: datetime, taken: datetime) -> float:
    """The longest time, between ``due`` and ``taken``, that the worker of ``attempts`` was
    running with a sending thread free without a break: how long it let a due delivery wait
    although it could have sent it. (While all its threads are busy, waiting is fair.)"""
    start = max(due, min(a.started_at for a in attempts))  # it had started
    moments = {x for a in attempts for x in (a.started_at, a.finished_at) if start < x < taken}
    points = sorted({start, taken, *moments})
    longest, since = 0.0, None
    for here, following in zip(points, points[1:], strict=False):
        busy = sum(1 for a in attempts if a.started_at <= here < a.finished_at)
        if busy < THREADS:
            since = since or here
            longest = max(longest, (following - since).total_seconds())
        else:
            since = None
    return longest


# 3. kill -9 of the server mid-batch


@pytest.mark.slow
def test_kill_9_of_the_server_mid_batch_leaves_each_decision_with_its_delivery(
    churn_app: Path, tmp_path: Path, spawn: Spawn
) -> None:
    spec = churn_app / "doorstep.yaml"
    url = f"sqlite:///{tmp_path / 'doorstep.db'}"
    with open_store(url) as store:
        _, secret = store.create_key("load", "client", actor="test")
    port = free_port()
    env = crm_env("http://127.0.0.1:9/never-called")  # --no-deliver: deliveries stay in the outbox
    log = tmp_path / "serve.log"
    server = spawn(
        "serve", str(spec), "--db", url, "--port", str(port), "--no-deliver", env=env, log=log.name
    )
    base = f"http://127.0.0.1:{port}"

    def ready() -> bool:
        assert server.poll() is None, tail(log)
        try:
            return httpx.get(base + "/readyz", timeout=1).status_code == 200
        except httpx.TransportError:
            return False

    wait_until(ready, 90, "the server ready", log)
    acknowledged, cut_off = asyncio.run(_batches_until_killed(base, secret, server.pid))
    server.wait(timeout=10)
    assert len(acknowledged) >= 300 and cut_off > 0, (len(acknowledged), cut_off)

    actions = read_spec(spec, env).spec.actions
    with open_store(url) as store, store.engine.connect() as conn:
        made = {row.id: row for row in conn.execute(sa.select(decisions))}
        rows = conn.execute(sa.select(deliveries)).all()
    assert set(acknowledged) <= set(made), "an acknowledged decision was lost"
    by_decision: dict[str, list[Any]] = defaultdict(list)
    for row in rows:
        by_decision[row.decision_id].append(row)
    assert set(by_decision) <= set(made), "a delivery lacks its decision"
    kinds: dict[str, int] = defaultdict(int)
    for decision_id, made_decision in made.items():
        action = actions.get(made_decision.action)
        wanted = made_decision.status != "held_out" and action is not None and action.connector
        got = [
            (r.key, r.action, r.connector, r.state, r.attempts) for r in by_decision[decision_id]
        ]
        if not wanted:
            kinds["none" if made_decision.status != "held_out" else "held_out"] += 1
            assert got == [], f"{decision_id} ({made_decision.status}) has a delivery"
            continue
        assert action is not None
        state = "held" if made_decision.status == "pending_review" else "pending"
        kinds[f"{state} {action.connector}"] += 1
        key = f"{decision_id}:{made_decision.action}"
        assert got == [(key, made_decision.action, action.connector, state, 0)], decision_id
    every_kind = {"none", "held_out", "held crm", "pending crm", "pending callbacks"}
    assert set(kinds) == every_kind, f"not every kind of decision was made: {dict(kinds)}"


def _customer(number: int) -> dict[str, Any]:
    """A churn record of low, borderline, high or premium high risk in turn, so that batches
    make every kind of decision: no action, held for review, sent to either connector."""
    risk = number % 4
    if risk == 0:
        return customer(number)  # no action
    tenure, tickets, late, logins, idle = {
        1: (10, 2, 1, 8, 15),  # borderline: held for review
        2: (4, 5, 2, 4, 25),  # high: the crm webhook
        3: (1, 9, 4, 0, 60),  # premium and high: the callbacks file
    }[risk]
    premium = {"plan": "premium", "monthly_spend": 85.0} if risk == 3 else {"plan": "basic"}
    return customer(
        number,
        contract="monthly",
        autopay=False,
        tenure_months=tenure,
        support_tickets_30d=tickets,
        late_payments_12m=late,
        logins_30d=logins,
        days_since_last_login=idle,
        **premium,
    )


async def _batches_until_killed(base: str, secret: str, pid: int) -> tuple[list[str], int]:
    """Eight clients post batches of 25 customers until the server, killed once it has
    acknowledged 300 decisions, stops answering. Returns the acknowledged decision ids and
    how many requests the kill cut off."""
    acknowledged: list[str] = []
    cut_off = 0
    killed = asyncio.Event()
    deadline = time.monotonic() + 60

    async def client_loop(client: httpx.AsyncClient, number: int) -> None:
        nonlocal cut_off
        n = 0
        while time.monotonic() < deadline and not killed.is_set():
            n += 1
            first = number * 100_000 + n * 25
            body = {"records": [_customer(first + i) for i in range(25)]}
            try:
                response = await client.post(f"{base}/v1/apps/churn/decisions", json=body)
            except httpx.TransportError:
                if killed.is_set():
                    cut_off += 1
                    return
                raise
            assert response.status_code == 200, response.text
            acknowledged.extend(d["decision_id"] for d in response.json()["decisions"])

    async def killer() -> None:
        while len(acknowledged) < 300 and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
        os.kill(pid, signal.SIGKILL)
        killed.set()

    headers = {"Authorization": f"Bearer {secret}"}
    async with httpx.AsyncClient(headers=headers, timeout=30) as client:
        await asyncio.gather(killer(), *(client_loop(client, i) for i in range(8)))
    return acknowledged, cut_off


# 4. two workers, one PostgreSQL, 1,000 deliveries


@pytest.mark.slow
def test_two_workers_on_postgresql_send_1000_deliveries_once_each(
    churn_app: Path, pg_url: str, tmp_path: Path, spawn: Spawn
) -> None:
    spec = with_crm(churn_app, timeout="5")
    with Receiver(secrets=[SECRET]) as receiver, open_store(pg_url) as store:
        receiver.script(HOOK, Reply(200, OK, delay=0.005))
        env = crm_env(receiver.url(HOOK))
        made = [
            d
            for start in range(0, 1000, 250)
            for d in record_deliveries(store, spec, env, 250, start=start)
        ]
        args = ["worker", str(spec), "--db", pg_url, "--concurrency", "8", "--poll", "0.1"]
        workers = [spawn(*args, env=env, log=f"worker-{i}.log") for i in range(2)]
        wait_until(
            lambda: store.delivery_counts().get("delivered") == 1000,
            120,
            "1,000 deliveries delivered",
            tmp_path / "worker-0.log",
        )
        for i, worker in enumerate(workers):
            stop(worker, tmp_path / f"worker-{i}.log")
        history = attempts_by_delivery(store)
    seen = receiver.webhook_ids(HOOK)
    assert len(seen) == 1000 and set(seen) == {d.key for d in made}
    assert sum(seen.values()) == 1000, "a delivery was sent twice"
    assert_every_request_verified(receiver)
    assert sorted(len(rows) for rows in history.values()) == [1] * 1000
    assert_one_worker_at_a_time(history, 120)
    by_process: dict[str, int] = defaultdict(int)
    for rows in history.values():
        by_process[rows[0].worker.split(":")[1]] += 1
    assert set(by_process) == {str(w.pid) for w in workers}, "both workers took part"
    assert min(by_process.values()) >= 50, dict(by_process)


# 5. a retry 10 minutes later is signed afresh


def test_a_retry_ten_minutes_later_is_signed_afresh_and_accepted(
    churn_app: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spec = with_crm(churn_app, retry="{delays: [540], jitter: 0.1}")  # due after 8.1 to 9.9 min
    clock = Clock(datetime.now(UTC))

    class ReceiverTime(datetime):
        """The receiver's library reads the time through this: the test's clock."""

        @classmethod
        def now(cls, tz: Any = None) -> ReceiverTime:
            moment = clock.now.astimezone(tz)
            return cls.fromtimestamp(moment.timestamp(), tz=moment.tzinfo)

    monkeypatch.setattr(standard_webhooks, "datetime", ReceiverTime)
    with (
        Receiver(secrets=[SECRET]) as receiver,
        open_store(f"sqlite:///{tmp_path / 'd.db'}") as store,
    ):
        receiver.script(HOOK, Reply(503, b"maintenance"), Reply(200, OK))
        env = crm_env(receiver.url(HOOK))
        doc = read_spec(spec, env)
        crm_spec = doc.spec.connectors["crm"]
        assert isinstance(crm_spec, WebhookConnectorSpec)
        crm = WebhookConnector(
            crm_spec,
            ConnectorContext("crm", spec.parent, secret_values(doc)),
            clock=lambda: clock.now.timestamp(),  # the connector signs with the test's clock too
        )
        app = AppConnectors(doc.spec, {"crm": crm}, secret_values(doc))
        (made,) = record_deliveries(store, spec, env, 1)
        clock.now = datetime.now(UTC)  # due now
        with Dispatcher(store, [app], clock=clock) as dispatcher:
            (first,) = dispatcher.run_once()
            assert (first.outcome, first.status, first.state) == ("retry", 503, "pending")
            clock.now += timedelta(minutes=8)
            assert dispatcher.run_once() == []  # not due yet
            clock.now += timedelta(minutes=2)
            (second,) = dispatcher.run_once()
            assert (second.outcome, second.status, second.state) == ("delivered", 200, "delivered")
        info = store.get_delivery(made.id)
        assert info is not None and info.state == "delivered"
        assert [(a.number, a.outcome) for a in info.history] == [(1, "retry"), (2, "delivered")]
        old, new = receiver.requests_to(HOOK)
        assert old.headers["webhook-id"] == new.headers["webhook-id"] == made.key
        stamps = int(old.headers["webhook-timestamp"]), int(new.headers["webhook-timestamp"])
        assert stamps[1] - stamps[0] == 600
        assert old.verified_with == new.verified_with == (SECRET,)  # each fresh when it arrived
        assert old.body == new.body
        with pytest.raises(WebhookVerificationError, match="too old"):  # the first, replayed now
            Webhook(SECRET).verify(old.body, old.headers)
