"""Consumers inside ``doorstep serve --consume`` (against Redis): started with the server,
decided like ``doorstep consume``, one server of those sharing the store consuming at a time
(the ``streams`` lease), stopped and the lease released on shutdown."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import anyio
import orjson
import polars as pl
import pytest
import sqlalchemy as sa
from tests.streams.brokers import Bus, open_bus

from doorstep.runtime.consume_loop import LEASE_NAME, consuming
from doorstep.services.apps.registry import load_registry
from doorstep.store import Store, open_store
from doorstep.store.tables import decisions
from doorstep.web.app import create_app
from doorstep.web.settings import ServeSettings


@pytest.fixture
def redis_bus() -> Iterator[Bus]:
    yield from open_bus("redis")


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    opened = open_store(f"sqlite:///{tmp_path / 'doorstep.db'}")
    try:
        yield opened
    finally:
        opened.close()


def streamed_spec(churn_app: Path, bus: Bus) -> Path:
    spec = churn_app / "doorstep.yaml"
    block = {"orders": {"source": bus.source, "dead_letter": bus.dead_letter, "wait": 0.1}}
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


def test_serve_consumes_its_streams_and_releases_the_lease(
    churn_app: Path, redis_bus: Bus, store: Store, tmp_path: Path
) -> None:
    spec = streamed_spec(churn_app, redis_bus)
    settings = ServeSettings(
        consume=True, deliver=False, schedules=False, home=str(tmp_path / ".doorstep")
    )
    publish(churn_app, redis_bus, 0, 3)
    api = create_app(load_registry([spec]), store, settings)

    async def serve() -> None:
        async with api.router.lifespan_context(api):
            assert decided(store, 3) == 3
            # the lease is held: another server sharing the store does not consume
            assert not store.acquire_lease(LEASE_NAME, "another-server", 30)
            publish(churn_app, redis_bus, 3, 2)
            assert decided(store, 5) == 5

    anyio.run(serve)
    # shut down: the lease is free at once, for another server to take
    assert store.acquire_lease(LEASE_NAME, "another-server", 30)
    store.release_lease(LEASE_NAME, "another-server")


def test_one_server_consumes_at_a_time(churn_app: Path, redis_bus: Bus, store: Store) -> None:
    spec = streamed_spec(churn_app, redis_bus)
    apps = list(load_registry([spec]))
    with consuming(apps, store, enabled=True, lease_seconds=3) as first:
        assert first is not None and first.consuming.wait(10)
        with consuming(apps, store, enabled=True, lease_seconds=3) as second:
            assert second is not None
            publish(churn_app, redis_bus, 0, 4)
            assert decided(store, 4) == 4
            assert not second.consuming.is_set()
        assert first.consuming.is_set()
    assert not first.consuming.is_set()
    with consuming(apps, store, enabled=False) as off:
        assert off is None
