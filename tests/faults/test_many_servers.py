"""Two ``doorstep serve`` processes (one with ``--workers 2``) and two ``doorstep worker``
processes on one throwaway PostgreSQL database, under load through both servers, with one
server (all its processes) and one worker killed with SIGKILL mid-load:

- nothing acknowledged is lost: every decision a 2xx answer named is in the store;
- nothing is doubled: one decision per ``Idempotency-Key`` (each key sent to both servers), one
  delivery per decision that calls for one, and the receiver (which verifies every signature with
  the ``standardwebhooks`` package) got each delivery under one ``webhook-id``; a key arrived
  twice only when the killed worker had it in flight (its lease expired and another worker sent it
  again, the same body under the same key: at least once, deduplicated by ``webhook-id``);
- every delivery arrives.

The servers run with ``--no-deliver`` so that the workers send; every wait is bounded.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections import defaultdict
from collections.abc import Iterator
from functools import partial
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from tests.connectors.receivers import Receiver, Reply
from tests.faults.conftest import (
    HOOK,
    MAIN,
    OK,
    assert_every_request_verified,
    assert_one_worker_at_a_time,
    attempts_by_delivery,
    crm_env,
    tail,
    wait_until,
    with_crm,
)
from tests.web.conftest import customer
from tests.web.test_serve_process import free_port

from doorstep.store import open_store
from doorstep.store.tables import decisions, deliveries, idempotency

pytestmark = pytest.mark.slow

LEASE = 4.0
"""Seconds a worker's claim on a delivery lasts (twice the connector's 2 s timeout)."""
LOAD_SECONDS = 12.0
KEYS = 40
"""Idempotency keys, each sent to both servers."""


class Group:
    """A process started in a session of its own, so that ``kill_9`` takes its children (the
    uvicorn workers of ``serve --workers 2``) with it, as a host that dies would."""

    def __init__(self, args: list[str], env: dict[str, str], log: Path) -> None:
        self.log = log
        with log.open("ab") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-c", MAIN, *args],
                env=env,
                cwd=log.parent,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def kill_9(self) -> None:
        try:
            os.killpg(self.process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.process.wait(timeout=10)

    def running(self) -> bool:
        return self.process.poll() is None


@pytest.fixture
def groups() -> Iterator[list[Group]]:
    started: list[Group] = []
    yield started
    for group in started:
        group.kill_9()


def _ready(base: str, group: Group) -> bool:
    assert group.running(), tail(group.log)
    try:
        return httpx.get(base + "/readyz", timeout=1).status_code == 200
    except httpx.TransportError:
        return False


def _record(number: int) -> dict[str, Any]:
    """Low risk (no action), borderline (held for review) or high risk (the crm webhook), in
    turn; never premium, so that every action is a webhook or nothing."""
    kind = number % 3
    if kind == 0:
        return customer(number, plan="basic")
    tenure, tickets, late, logins, idle = {1: (10, 2, 1, 8, 15), 2: (4, 5, 2, 4, 25)}[kind]
    return customer(
        number,
        plan="basic",
        contract="monthly",
        autopay=False,
        tenure_months=tenure,
        support_tickets_30d=tickets,
        late_payments_12m=late,
        logins_30d=logins,
        days_since_last_login=idle,
    )


class Load:
    """Clients posting single records and batches to both servers, and the same idempotency
    keys to each; what was acknowledged, by key too."""

    def __init__(self, bases: list[str], secret: str) -> None:
        self.bases = bases
        self.headers = {"Authorization": f"Bearer {secret}"}
        self.acknowledged: list[str] = []
        self.by_key: dict[str, set[str]] = defaultdict(set)
        self.down: set[str] = set()
        self.refused: list[str] = []

    async def _post(self, client: httpx.AsyncClient, base: str, body: Any, key: str | None) -> Any:
        headers = {"Idempotency-Key": key} if key else {}
        try:
            response = await client.post(
                f"{base}/v1/apps/churn/decisions", json=body, headers=headers
            )
        except httpx.TransportError:
            if base in self.down:
                return None  # the load balancer's next try goes to the other server
            raise
        if response.status_code == 503 and base in self.down:
            return None
        if response.status_code != 200:
            self.refused.append(f"{response.status_code} {response.text[:300]}")
            return None
        return response.json()

    async def client(self, client: httpx.AsyncClient, number: int, deadline: float) -> None:
        n = 0
        while time.monotonic() < deadline:
            n += 1
            live = [b for b in self.bases if b not in self.down]
            base = live[(number + n) % len(live)]
            first = number * 100_000 + n * 10
            if n % 5 == 0:
                body: Any = {"records": [_record(first + i) for i in range(10)]}
                payload = await self._post(client, base, body, None)
                if payload is not None:
                    self.acknowledged.extend(d["decision_id"] for d in payload["decisions"])
            else:
                payload = await self._post(client, base, _record(first), None)
                if payload is not None:
                    self.acknowledged.append(payload["decision_id"])
            if n % 4 == 0:  # a key sent to both servers at once
                key = f"key-{(number * 7 + n) % KEYS}"
                body = _record(9_000_000 + int(key.split("-")[1]))
                answers = await asyncio.gather(
                    *(self._post(client, b, body, key) for b in self.bases if b not in self.down)
                )
                for payload in answers:
                    if payload is not None:
                        self.by_key[key].add(payload["decision_id"])
                        self.acknowledged.append(payload["decision_id"])


def test_two_servers_two_workers_one_postgresql_kill_9_one_of_each(
    churn_app: Path, pg_url: str, tmp_path: Path, groups: list[Group]
) -> None:
    spec = with_crm(churn_app, timeout="2")
    with open_store(pg_url) as store:
        _, secret = store.create_key("load", "client", actor="test")
    with Receiver(secrets=[crm_env("")["CRM_WEBHOOK_SECRET"]]) as receiver:
        receiver.script(HOOK, Reply(200, OK, delay=0.01))
        env = crm_env(receiver.url(HOOK))
        ports = [free_port(), free_port()]
        bases = [f"http://127.0.0.1:{port}" for port in ports]
        for i, port in enumerate(ports):
            args = ["serve", str(spec), "--db", pg_url, "--port", str(port), "--no-deliver"]
            args += ["--workers", str(2 - i), "--db-pool-size", "3"]
            groups.append(Group(args, env, tmp_path / f"serve-{i}.log"))
        for i in range(2):
            args = ["worker", str(spec), "--db", pg_url, "--concurrency", "4", "--poll", "0.1"]
            args += ["--lease-seconds", str(LEASE), "--db-pool-size", "2"]
            groups.append(Group(args, env, tmp_path / f"worker-{i}.log"))
        servers, workers = groups[:2], groups[2:]
        for base, server in zip(bases, servers, strict=True):
            # start-up is bounded apart: on a machine busy with other tests it takes minutes
            wait_until(partial(_ready, base, server), 240, "a server ready", server.log)
        loaded = time.monotonic()

        load = Load(bases, secret)

        async def drive() -> None:
            deadline = time.monotonic() + LOAD_SECONDS

            async def killer() -> None:
                # mid-load: once both servers have answered and the workers have sent some
                while (
                    len(load.acknowledged) < 300 or len(receiver.requests_to(HOOK)) < 20
                ) and time.monotonic() < deadline - 6:
                    await asyncio.sleep(0.05)
                load.down.add(bases[0])
                servers[0].kill_9()  # the one with --workers 2: its workers die with it
                workers[1].kill_9()

            limits = httpx.Limits(max_connections=32)
            async with httpx.AsyncClient(headers=load.headers, timeout=20, limits=limits) as c:
                await asyncio.gather(killer(), *(load.client(c, i, deadline) for i in range(12)))

        asyncio.run(drive())
        assert not load.refused, load.refused[:3]
        assert len(load.acknowledged) >= 300, len(load.acknowledged)

        with open_store(pg_url) as store:

            def all_sent() -> bool:
                with store.engine.connect() as conn:
                    states = conn.execute(sa.select(deliveries.c.state)).scalars().all()
                return bool(states) and set(states) <= {"delivered", "held"}

            wait_until(all_sent, 30, "every delivery delivered", workers[0].log)
            with store.engine.connect() as conn:
                made = {row.id: row for row in conn.execute(sa.select(decisions))}
                sent = conn.execute(sa.select(deliveries)).all()
                keys = conn.execute(sa.select(idempotency.c.key)).scalars().all()
            history = attempts_by_delivery(store)
            assert store.verify_audit().ok
        assert servers[1].running() and workers[0].running(), tail(servers[1].log)

    # nothing acknowledged is lost
    lost = set(load.acknowledged) - set(made)
    assert not lost, f"{len(lost)} acknowledged decisions are not in the store"
    # one decision per idempotency key, across both servers
    assert load.by_key and all(len(ids) == 1 for ids in load.by_key.values()), load.by_key
    assert len(keys) == len(set(keys)) >= len(load.by_key)  # (stored as hashes)
    per_entity: dict[str, int] = defaultdict(int)
    for row in made.values():
        per_entity[row.entity_id] += 1
    for key in load.by_key:
        assert per_entity[f"C-{9_000_000 + int(key.split('-')[1])}"] == 1, f"{key}: two decisions"
    assert sum(per_entity[f"C-{9_000_000 + k}"] for k in range(KEYS)) == len(keys)
    # one delivery per decision that calls for one, each delivered (or held for review)
    by_decision: dict[str, list[Any]] = defaultdict(list)
    for row in sent:
        by_decision[row.decision_id].append(row)
    assert all(len(rows) == 1 for rows in by_decision.values()), "a decision has two deliveries"
    webhooks = {r.key for r in sent if r.connector == "crm" and r.state == "delivered"}
    assert webhooks, "no webhook was sent"
    for decision_id, row in made.items():
        calls = row.action in {"retention_offer", "call_customer"} and row.status != "held_out"
        assert (decision_id in by_decision) == calls, (decision_id, row.action, row.status)
    # the receiver got each delivery, under one webhook-id; twice only when the killed worker
    # had it in flight (an expired attempt)
    seen = receiver.webhook_ids(HOOK)
    assert set(seen) == webhooks, "the receiver missed a delivery or got an unknown one"
    by_key = {r.key: r.id for r in sent}
    resent = {key for key, count in seen.items() if count > 1}
    expired = {key for key in resent if "expired" in {a.outcome for a in history[by_key[key]]}}
    assert resent == expired, f"sent twice without a worker dying: {sorted(resent - expired)}"
    assert_every_request_verified(receiver, cut=expired)
    assert_one_worker_at_a_time(history, LEASE)
    assert time.monotonic() - loaded < 60, "load, kills and deliveries took a minute or more"
