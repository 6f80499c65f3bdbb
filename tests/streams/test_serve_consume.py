"""Consumers inside ``doorstep serve --consume`` (against Redis): started with the server,
decided like ``doorstep consume``, counted on ``/metrics`` and shown by ``/v1/streams``; one
lease per stream, so two servers sharing the store spread the streams, each stream with exactly
one consumer, and a server that stops renewing (it died, or lost the store) has its streams
taken over."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import anyio
import httpx
import orjson
import polars as pl
import pytest
import sqlalchemy as sa
from tests.streams.brokers import Bus, open_bus

from doorstep.errors import StoreUnavailableError
from doorstep.runtime.consume_loop import consuming, lease_name
from doorstep.services.apps.registry import load_registry
from doorstep.store import Store, open_store
from doorstep.store.tables import decisions
from doorstep.web.app import create_app
from doorstep.web.settings import ServeSettings


@pytest.fixture
def redis_bus() -> Iterator[Bus]:
    yield from open_bus("redis")


@pytest.fixture
def other_bus() -> Iterator[Bus]:
    yield from open_bus("redis")


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    opened = open_store(f"sqlite:///{tmp_path / 'doorstep.db'}")
    try:
        yield opened
    finally:
        opened.close()


def streamed_spec(churn_app: Path, *buses: Bus) -> Path:
    spec = churn_app / "doorstep.yaml"
    names = ["orders", "signals"]
    block = {
        name: {"source": bus.source, "dead_letter": bus.dead_letter, "wait": 0.1}
        for name, bus in zip(names, buses, strict=False)
    }
    spec.write_text(spec.read_text() + "\nstreams: " + json.dumps(block) + "\n")
    return spec


def publish(churn_app: Path, bus: Bus, first: int, count: int) -> None:
    frame = pl.read_parquet(churn_app / "customers.parquet").slice(first, count)
    for i, row in enumerate(frame.drop("email", "nps_score").to_dicts()):
        bus.publish(orjson.dumps(row), f"m-{first + i}")


def decided(store: Store, expected: int, timeout: float = 30.0) -> int:
    deadline, count = time.monotonic() + timeout, 0
    while time.monotonic() < deadline:
        with store.engine.connect() as conn:
            count = int(
                conn.execute(sa.select(sa.func.count()).select_from(decisions)).scalar_one()
            )
        if count >= expected:
            return count
        time.sleep(0.1)
    return count


def until(condition: Callable[[], bool], timeout: float = 20.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return condition()


def metric(text: str, prefix: str) -> float:
    return sum(
        float(line.rsplit(" ", 1)[1]) for line in text.splitlines() if line.startswith(prefix)
    )


def test_serve_consumes_counts_and_shows_its_streams(
    churn_app: Path, redis_bus: Bus, store: Store, tmp_path: Path
) -> None:
    spec = streamed_spec(churn_app, redis_bus)
    settings = ServeSettings(
        consume=True, deliver=False, schedules=False, home=str(tmp_path / ".doorstep")
    )
    publish(churn_app, redis_bus, 0, 3)
    redis_bus.publish(b'{"customer_id": "C-bad", "plan": "gold"}', "m-poison")
    api = create_app(load_registry([spec]), store, settings)
    secret = store.create_key("ops", "viewer", actor="test")[1]
    headers = {"Authorization": f"Bearer {secret}"}
    admin = {"Authorization": f"Bearer {store.create_key('root', 'admin', actor='test')[1]}"}
    lease = lease_name("churn", "orders")

    async def serve() -> None:
        async with api.router.lifespan_context(api):
            transport = httpx.ASGITransport(app=api)
            async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
                assert await anyio.to_thread.run_sync(decided, store, 3) == 3
                # the stream's lease is held: another server sharing the store does not take it
                assert not store.acquire_lease(lease, "another-server", 30)
                publish(churn_app, redis_bus, 3, 2)
                assert await anyio.to_thread.run_sync(decided, store, 5) == 5

                async def scraped() -> str:
                    return (await client.get("/metrics", headers=admin)).text

                labels = '{app="churn",stream="orders"}'
                deadline = time.monotonic() + 20
                text = await scraped()
                while metric(text, f"doorstep_stream_messages_total{labels}") < 6:
                    assert time.monotonic() < deadline, text
                    await anyio.sleep(0.1)
                    text = await scraped()
                assert metric(text, f"doorstep_stream_decisions_total{labels}") == 5
                assert metric(text, f"doorstep_stream_rejects_total{labels}") == 1
                assert metric(text, f"doorstep_stream_dead_letters_total{labels}") == 1
                assert metric(text, f"doorstep_stream_duplicates_total{labels}") == 0
                assert metric(text, f"doorstep_stream_errors_total{labels}") == 0
                assert metric(text, f"doorstep_stream_batch_seconds_count{labels}") >= 2
                assert f"doorstep_stream_lag{labels}" in text  # Redis tells its lag

                # /v1/streams: what the consumer reported (every 2 s), through the real app
                async def shown() -> dict[str, Any]:
                    answer = await client.get("/v1/streams", headers=headers)
                    assert answer.status_code == 200, answer.text
                    (stream,) = answer.json()["streams"]
                    return dict(stream)

                stream = await shown()
                while stream["received"] < 6:
                    assert time.monotonic() < deadline, stream
                    await anyio.sleep(0.2)
                    stream = await shown()
                assert stream["app"] == "churn" and stream["stream"] == "orders"
                assert stream["source"] == "redis" and stream["consumers"] == 1
                assert (stream["decided"], stream["rejected"], stream["dead_letters"]) == (5, 1, 1)
                assert stream["lag"] == 0 and stream["last_error"] is None
                one = await client.get("/v1/streams/orders", headers=headers)
                assert one.status_code == 200 and one.json()["decided"] == 5

    anyio.run(serve)
    # shut down: the stream's lease is free at once, for another server to take
    assert store.acquire_lease(lease, "another-server", 30)
    store.release_lease(lease, "another-server")


class Unreachable:
    """The real store, as a server that lost it sees it once ``lost`` is set."""

    def __init__(self, store: Store) -> None:
        self.store, self.lost = store, False

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self.store, name)
        if self.lost and callable(attribute):

            def refused(*args: Any, **kwargs: Any) -> Any:
                raise StoreUnavailableError("the store is unreachable (test)")

            return refused
        return attribute


def test_two_servers_spread_the_streams_and_take_over_a_dead_ones(
    churn_app: Path, redis_bus: Bus, other_bus: Bus, store: Store
) -> None:
    spec = streamed_spec(churn_app, redis_bus, other_bus)
    apps = list(load_registry([spec]))
    both = {"churn/orders", "churn/signals"}
    dying = Unreachable(store)
    with consuming(apps, dying, enabled=True, lease_seconds=1.5) as first:
        assert first is not None and until(lambda: first.held() == both)  # alone: both
        with consuming(apps, store, enabled=True, lease_seconds=1.5) as second:
            assert second is not None
            # a newcomer: the first hands one stream back, each stream has exactly one consumer
            assert until(lambda: len(first.held()) == 1 == len(second.held()))
            assert first.held() | second.held() == both
            publish(churn_app, redis_bus, 0, 3)
            publish(churn_app, other_bus, 3, 3)
            assert decided(store, 6) == 6
            # the first server loses the store: it stops its consumer within the term, its
            # leases expire, and the second takes its stream over
            dying.lost = True
            assert until(lambda: first.held() == set())
            assert until(lambda: second.held() == both)
            publish(churn_app, redis_bus, 6, 2)
            publish(churn_app, other_bus, 8, 2)
            assert decided(store, 10) == 10
        dying.lost = False
    with consuming(apps, store, enabled=False) as off:
        assert off is None
    with store.engine.connect() as conn:
        entities = [r.entity_id for r in conn.execute(sa.select(decisions.c.entity_id))]
    assert len(entities) == 10 == len(set(entities))  # one decision per message
