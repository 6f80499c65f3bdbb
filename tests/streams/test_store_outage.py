"""The store (a PostgreSQL server of the test's own) down for 10 s mid-stream, under consumers of
the four buses running as ``doorstep consume`` runs them: each pauses with the error counted,
keeps what it holds unacknowledged, and resumes when the database is back; every message is
decided exactly once, no action is written twice, and a poison message published during the
outage reaches the dead letter."""

from __future__ import annotations

import threading
import time
from collections.abc import Generator, Iterator
from pathlib import Path
from typing import Any

import orjson
import polars as pl
import pytest
import sqlalchemy as sa
from tests.fixtures_db import PostgresCluster
from tests.streams.brokers import Bus, open_bus

from doorstep.core.spec.streams import StreamSpec
from doorstep.plugins import open_stream
from doorstep.runtime.consumers import Consumers
from doorstep.services.apps.loading import LoadedApp
from doorstep.services.decide.streams import StreamConsumer, list_streams
from doorstep.store import Store, open_store
from doorstep.store.tables import decisions, deliveries

KINDS = ["nats", "redis", "rabbitmq", "mqtt"]
OUTAGE = 10.0
PER_BUS = 10


@pytest.fixture
def buses() -> Iterator[dict[str, Bus]]:
    opened: list[Generator[Bus, None, None]] = []
    try:
        found: dict[str, Bus] = {}
        for kind in KINDS:
            opened.append(open_bus(kind))
            found[kind] = next(opened[-1])
        yield found
    finally:
        for generator in reversed(opened):
            generator.close()


@pytest.fixture
def cluster() -> Iterator[PostgresCluster]:
    own = PostgresCluster.start()
    try:
        yield own
    finally:
        own.stop()


def count(store: Store, table: sa.Table) -> int:
    with store.engine.connect() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one())


def wait_until(done: Any, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while not done():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


@pytest.mark.slow
@pytest.mark.services
@pytest.mark.postgres
def test_the_store_down_for_10_s_mid_stream(
    cluster: PostgresCluster,
    buses: dict[str, Bus],
    churn_loaded_app: LoadedApp,
    churn_app_template: Path,
) -> None:
    frame = pl.read_parquet(churn_app_template / "customers.parquet").head(PER_BUS * len(KINDS))
    rows = [{k: v for k, v in r.items() if v is not None} for r in frame.to_dicts()]
    store = open_store(cluster.url(), busy_timeout=1)
    workers: list[StreamConsumer] = []
    for kind, bus in buses.items():
        spec = StreamSpec.model_validate(
            {"source": bus.source, "dead_letter": bus.dead_letter, "batch": 3, "wait": 0.1}
        )
        name = f"orders_{kind}"
        source = open_stream(name, spec)
        workers.append(
            StreamConsumer(churn_loaded_app, store, name, spec, source, pause=0.1, max_pause=1.0)
        )
    stop = threading.Event()
    failures: list[BaseException] = []

    def run() -> None:
        try:
            Consumers(workers, store).run(stop)
        except BaseException as error:  # noqa: BLE001 - reported by the test
            failures.append(error)

    runner = threading.Thread(target=run, name="consumers")
    half = PER_BUS // 2

    def publish(part: slice) -> None:
        for i, bus in enumerate(buses.values()):
            mine = rows[i * PER_BUS : (i + 1) * PER_BUS]
            for j, row in list(enumerate(mine))[part]:
                bus.publish(orjson.dumps(row), f"{bus.kind}-{j}")

    runner.start()
    try:
        publish(slice(0, half))
        assert wait_until(lambda: count(store, decisions) >= half * len(KINDS), 30)
        cluster.halt()
        down = time.monotonic()
        publish(slice(half, PER_BUS))
        for bus in buses.values():  # a poison message, during the outage
            bus.publish(orjson.dumps({**rows[0], "tenure_months": -5}), f"{bus.kind}-poison")
        paused = wait_until(lambda: all(w.counters.errors > 0 for w in workers), OUTAGE)
        time.sleep(max(0.0, OUTAGE - (time.monotonic() - down)))
        cluster.resume()
        assert paused, [w.counters for w in workers]
        assert wait_until(lambda: count(store, decisions) >= PER_BUS * len(KINDS), 30)
        time.sleep(1.5)  # redeliveries of the batches held through the outage, recognised
    finally:
        stop.set()
        runner.join(30)
        for worker in workers:
            worker.source.close()
    assert not failures, failures
    with store.engine.connect() as conn:
        entities = [r.entity_id for r in conn.execute(sa.select(decisions.c.entity_id))]
        doubled = conn.execute(
            sa.select(deliveries.c.decision_id)
            .group_by(deliveries.c.decision_id, deliveries.c.action)
            .having(sa.func.count() > 1)
        ).all()
    summaries = {s.stream: s for s in list_streams(store)}
    store.close()
    assert sorted(entities) == sorted(frame["customer_id"].to_list())  # each message once
    assert doubled == []  # no action written twice
    for kind, bus in buses.items():
        summary = summaries[f"orders_{kind}"]
        assert summary.decided == PER_BUS and summary.errors > 0, summary
        assert "database" in (summary.last_error or ""), summary.last_error
        letters = [orjson.loads(body) for body in bus.dead_letters()]
        assert [orjson.loads(letter["body"])["tenure_months"] for letter in letters] == [-5]
