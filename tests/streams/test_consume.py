"""Stream consumers against the real brokers: a round trip on each bus (decisions with their
lineage and deliveries, a poison message to the dead letter and the rejects), exactly one
decision per message across a crash between the commit and the acknowledgement, and a pause
while the store is unavailable."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import polars as pl
import pytest
import sqlalchemy as sa
from tests.streams.brokers import Bus, open_bus

from doorstep.core.contract import frame_from_records
from doorstep.core.spec.streams import StreamSpec
from doorstep.errors import StoreUnavailableError
from doorstep.plugins import open_stream
from doorstep.services.apps.loading import LoadedApp
from doorstep.services.decide.batch import decide_batch
from doorstep.services.decide.streams import StreamConsumer
from doorstep.store import Store, open_store
from doorstep.store.tables import decisions, deliveries, rejects

KINDS = ["nats", "redis", "rabbitmq", "mqtt"]


@pytest.fixture(params=KINDS)
def bus(request: pytest.FixtureRequest) -> Iterator[Bus]:
    yield from open_bus(request.param)


@pytest.fixture
def stream_store(tmp_path: Path) -> Iterator[Store]:
    store = open_store(f"sqlite:///{tmp_path / 'doorstep.db'}")
    try:
        yield store
    finally:
        store.close()


@pytest.fixture(scope="module")
def customers(churn_app_template: Path, churn_loaded_app: LoadedApp) -> list[dict[str, Any]]:
    """Customers of the example, those acted on (a delivery each) first."""
    frame = pl.read_parquet(churn_app_template / "customers.parquet").head(200)
    rows = [{k: v for k, v in row.items() if v is not None} for row in frame.to_dicts()]
    decided = decide_batch(churn_loaded_app, frame_from_records(rows, churn_loaded_app.spec.inputs))
    acted = {
        entity
        for entity, action, status in decided.decisions.select(
            "entity_id", "action", "status"
        ).iter_rows()
        if action != "none" and status == "decided"
    }
    return sorted(rows, key=lambda row: row["customer_id"] not in acted)


def stream_spec(bus: Bus, **settings: Any) -> StreamSpec:
    return StreamSpec.model_validate(
        {"source": bus.source, "dead_letter": bus.dead_letter, "batch": 10, "wait": 0.2} | settings
    )


def consumer(app: LoadedApp, store: Store, spec: StreamSpec) -> StreamConsumer:
    return StreamConsumer(app, store, "orders", spec, open_stream("orders", spec), pause=0.05)


def drain(worker: StreamConsumer, expected: int, *, timeout: float = 20) -> int:
    """Step until ``expected`` messages were received (or ``timeout``); the count."""
    received, deadline = 0, time.monotonic() + timeout
    while received < expected and time.monotonic() < deadline:
        result = worker.step()
        assert result.failed is None, result.failed
        received += result.received
    return received


def count(store: Store, table: sa.Table, *where: Any) -> int:
    with store.engine.connect() as conn:
        query = sa.select(sa.func.count()).select_from(table)
        return int(conn.execute(query.where(*where) if where else query).scalar_one())


def test_round_trip(
    bus: Bus, churn_loaded_app: LoadedApp, stream_store: Store, customers: list[dict[str, Any]]
) -> None:
    spec = stream_spec(bus)
    worker = consumer(churn_loaded_app, stream_store, spec)
    try:
        for i, record in enumerate(customers[:3]):
            bus.publish(orjson.dumps(record), f"m-{i}")
        poison = {**customers[3], "tenure_months": -5, "plan": "gold"}
        bus.publish(orjson.dumps(poison), "m-poison")
        bus.publish(b"not json {", "m-garbage")
        assert drain(worker, 5) == 5
        worker.report(force=True)
    finally:
        worker.source.close()
    assert count(stream_store, decisions) == 3
    with stream_store.engine.connect() as conn:
        lineage = [r.lineage for r in conn.execute(sa.select(decisions.c.lineage))]
    streams = [entry["stream"] for entry in lineage]
    assert {s["name"] for s in streams} == {"orders"}
    assert {s["source"] for s in streams} == {bus.kind}
    assert all(s["message_id"] and s["sequence"] is not None for s in streams)
    if bus.kind in ("nats", "rabbitmq", "redis"):  # MQTT 3 publishers send no message id
        assert sorted(s["message_id"] for s in streams) == ["m-0", "m-1", "m-2"] or bus.kind == (
            "redis"  # Redis: the entry id
        )
    assert count(stream_store, deliveries) > 0  # the actions, in the outbox with their decisions
    # the poison and the garbage: kept as rejects of the stream, and dead-lettered with errors
    assert count(stream_store, rejects, rejects.c.source == "stream") >= 3
    with stream_store.engine.connect() as conn:
        rules = {r.rule for r in conn.execute(sa.select(rejects.c.rule))}
    assert {"min", "type"} <= rules or {"type"} <= rules
    letters = [orjson.loads(body) for body in bus.dead_letters()]
    assert len(letters) == 2
    by_body = {letter["body"]: letter for letter in letters}
    assert by_body["not json {"]["errors"][0]["rule"] == "type"
    fields = {e["field"] for letter in letters for e in letter["errors"]}
    assert {"tenure_months", "plan"} <= fields
    assert all(letter["stream"] == "orders" for letter in letters)
    (summary,) = stream_store.list_streams()
    assert (summary.received, summary.decided, summary.rejected, summary.dead_letters) == (
        5,
        3,
        2,
        2,
    )
    assert summary.source == bus.kind and summary.consumers == 1
    if bus.kind != "mqtt":
        assert summary.lag == 0


class Crash(Exception):
    """The consumer dying between its commit and its acknowledgement."""


def test_one_decision_across_a_crash_between_commit_and_ack(
    bus: Bus, churn_loaded_app: LoadedApp, stream_store: Store, customers: list[dict[str, Any]]
) -> None:
    spec = stream_spec(bus)
    first = consumer(churn_loaded_app, stream_store, spec)

    def crash(_: Any) -> None:
        raise Crash

    first.after_commit = crash
    for i, record in enumerate(customers[:4]):
        bus.publish(orjson.dumps(record), f"c-{i}")
    committed = 0
    with pytest.raises(Crash):
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            first.step()
    committed = count(stream_store, decisions)
    assert committed > 0
    delivered = count(stream_store, deliveries)
    first.source.close()  # gone without acknowledging: the bus delivers the messages again

    second = consumer(churn_loaded_app, stream_store, spec)
    try:
        received = duplicates = 0
        deadline = time.monotonic() + 30
        while (received < 4 or duplicates < committed) and time.monotonic() < deadline:
            result = second.step()
            received += result.received
            duplicates += result.duplicates
    finally:
        second.source.close()
    assert duplicates == committed  # redelivered, recognised, acknowledged
    assert count(stream_store, decisions) == 4  # one decision per message
    entities = {c["customer_id"] for c in customers[:4]}
    with stream_store.engine.connect() as conn:
        decided = [r.entity_id for r in conn.execute(sa.select(decisions.c.entity_id))]
    assert sorted(decided) == sorted(entities)
    assert count(stream_store, deliveries) >= delivered  # no second action for the first ones
    with stream_store.engine.connect() as conn:
        per_decision = conn.execute(
            sa.select(deliveries.c.decision_id, sa.func.count())
            .group_by(deliveries.c.decision_id, deliveries.c.action)
            .having(sa.func.count() > 1)
        ).all()
    assert per_decision == []


class FlakyStore:
    """The real store, unavailable for its first ``failures`` recordings."""

    def __init__(self, store: Store, failures: int) -> None:
        self.store, self.failures, self.refused = store, failures, 0

    def record(self, requests: Any, *, actor: str, one_event: bool = False) -> Any:
        if self.refused < self.failures:
            self.refused += 1
            raise StoreUnavailableError("database is locked (test)")
        return self.store.record(requests, actor=actor, one_event=one_event)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.store, name)


@pytest.mark.parametrize("bus", ["redis", "nats"], indirect=True)
def test_pauses_while_the_store_is_unavailable(
    bus: Bus, churn_loaded_app: LoadedApp, stream_store: Store, customers: list[dict[str, Any]]
) -> None:
    spec = stream_spec(bus)
    flaky = FlakyStore(stream_store, failures=3)
    worker = StreamConsumer(
        churn_loaded_app, flaky, "orders", spec, open_stream("orders", spec), pause=0.01
    )
    try:
        for i, record in enumerate(customers[:5]):
            bus.publish(orjson.dumps(record), f"p-{i}")
        failed = 0
        deadline = time.monotonic() + 20
        while count(stream_store, decisions) < 5 and time.monotonic() < deadline:
            failed += worker.step().failed is not None
        worker.report(force=True)
    finally:
        worker.source.close()
    assert failed == 3
    assert count(stream_store, decisions) == 5  # nothing lost, nothing doubled
    assert worker.counters.received == 5  # the batch was kept, not fetched again
    (summary,) = stream_store.list_streams()
    assert summary.errors == 3 and "database is locked" in (summary.last_error or "")
