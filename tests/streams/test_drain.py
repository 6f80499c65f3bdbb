"""``doorstep consume`` stopped with SIGTERM mid-stream drains: the micro-batch in flight is
committed and acknowledged before the process exits 0, so nothing is left unacknowledged on the
bus, and a consumer started afterwards receives only the messages never decided — no
redelivery, no second decision (NATS and Redis)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import orjson
import polars as pl
import pytest
import sqlalchemy as sa
from tests.streams.brokers import Bus, open_bus

from doorstep.core.spec.streams import StreamSpec
from doorstep.plugins import open_stream
from doorstep.services.apps.loading import LoadedApp
from doorstep.services.decide.streams import StreamConsumer
from doorstep.store import open_store
from doorstep.store.tables import decisions

MESSAGES = 2000
"""At most this many published: 50 first, then a publisher keeps the stream busy from just
before the signal until the consumer exits, and ten more follow for a second consumer."""


@pytest.fixture
def bus() -> Iterator[Bus]:
    yield from open_bus("redis")


def decided(url: str, database: Path) -> int:
    if not database.exists():
        return 0
    with open_store(url) as store, store.engine.connect() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(decisions)).scalar_one())


@pytest.mark.slow
def test_sigterm_mid_stream_drains_the_batch_in_flight(
    churn_app: Path, churn_loaded_app: LoadedApp, tmp_path: Path, bus: Bus
) -> None:
    spec = churn_app / "doorstep.yaml"
    block = {"orders": {"source": bus.source, "batch": 10, "wait": 0.05}}
    spec.write_text(spec.read_text() + "\nstreams: " + json.dumps(block) + "\n")
    rows = pl.read_parquet(churn_app / "customers.parquet").head(MESSAGES).drop("email")
    bodies = [orjson.dumps({k: v for k, v in r.items() if v is not None}) for r in rows.to_dicts()]
    published, stop = 0, threading.Event()

    def publish(count: int, pause: float = 0.0) -> None:
        nonlocal published
        for _ in range(count):
            if stop.is_set() or published >= len(bodies):
                return
            bus.publish(bodies[published], f"d-{published}")
            published += 1
            time.sleep(pause)

    publish(50)
    publisher = threading.Thread(target=publish, args=(len(bodies) - 60, 0.005))
    database = tmp_path / "doorstep.db"
    url = f"sqlite:///{database}"
    command = [sys.executable, "-c", "from doorstep.cli.main import main; main()"]
    process = subprocess.Popen(
        [*command, "consume", str(spec), "--db", url],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "COLUMNS": "200"},
    )
    try:
        deadline = time.monotonic() + 90
        while decided(url, database) < 20 and time.monotonic() < deadline:
            assert process.poll() is None, process.communicate()[1]
            time.sleep(0.02)
        publisher.start()  # the stream stays busy however fast the consumer is
        time.sleep(0.2)
        process.send_signal(signal.SIGTERM)  # mid-stream: batches follow one another
        _, stderr = process.communicate(timeout=60)
    finally:
        stop.set()
        if publisher.is_alive():
            publisher.join()
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 0, stderr
    stop.clear()
    publish(10)  # after the exit: these are for the second consumer alone
    total, first = published, decided(url, database)
    assert 20 <= first <= total - 10, (first, total, stderr)

    # what the first process decided was acknowledged: nothing comes back, even after the
    # bus's redelivery time (NATS ack_wait, Redis claim_after: 1 s here)
    time.sleep(1.5)
    stream = StreamSpec.model_validate(block["orders"])
    with open_store(url) as store:
        second = StreamConsumer(
            churn_loaded_app, store, "orders", stream, open_stream("orders", stream)
        )
        received = duplicates = 0
        try:
            deadline = time.monotonic() + 60
            while received < total - first and time.monotonic() < deadline:
                result = second.step()
                assert result.failed is None, result.failed
                received, duplicates = received + result.received, duplicates + result.duplicates
            late = second.step()  # nothing left: no redelivery of the drained batch
        finally:
            second.source.close()
    assert (received, duplicates, late.received) == (total - first, 0, 0)
    with open_store(url) as store, store.engine.connect() as conn:
        entities = [r.entity_id for r in conn.execute(sa.select(decisions.c.entity_id))]
    assert len(entities) == total == len(set(entities))  # one decision per message
