"""``doorstep consume`` killed with SIGKILL mid-stream, then started again: every message is
decided exactly once, and no action is written twice (NATS and Redis)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import orjson
import polars as pl
import pytest
import sqlalchemy as sa
from tests.streams.brokers import Bus, open_bus

from doorstep.store import open_store
from doorstep.store.tables import decisions, deliveries

MESSAGES = 60


@pytest.fixture(params=["nats", "redis"])
def bus(request: pytest.FixtureRequest) -> Iterator[Bus]:
    yield from open_bus(request.param)


def start(spec: Path, url: str) -> subprocess.Popen[str]:
    command = [sys.executable, "-c", "from doorstep.cli.main import main; main()"]
    return subprocess.Popen(
        [*command, "consume", str(spec), "--db", url],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "COLUMNS": "200"},
    )


def decided(url: str, database: Path) -> int:
    if not database.exists():
        return 0
    with open_store(url) as store, store.engine.connect() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(decisions)).scalar_one())


def wait_for(url: str, database: Path, count: int, process: subprocess.Popen[str]) -> int:
    deadline, found = time.monotonic() + 90, 0
    while time.monotonic() < deadline and process.poll() is None:
        found = decided(url, database)
        if found >= count:
            break
        time.sleep(0.05)
    return found


@pytest.mark.slow
def test_sigkill_mid_stream_then_restart(churn_app: Path, tmp_path: Path, bus: Bus) -> None:
    spec = churn_app / "doorstep.yaml"
    block = {"orders": {"source": bus.source, "batch": 4, "wait": 0.05}}
    spec.write_text(spec.read_text() + "\nstreams: " + json.dumps(block) + "\n")
    rows = pl.read_parquet(churn_app / "customers.parquet").head(MESSAGES).drop("email")
    bodies = [orjson.dumps({k: v for k, v in r.items() if v is not None}) for r in rows.to_dicts()]
    half = MESSAGES // 2
    for i, body in enumerate(bodies[:half]):  # the rest only after the kill: it dies mid-stream
        bus.publish(body, f"k-{i}")
    database = tmp_path / "doorstep.db"
    url = f"sqlite:///{database}"
    first = start(spec, url)
    try:
        reached = wait_for(url, database, 8, first)
        first.send_signal(signal.SIGKILL)  # mid-stream: a batch may be committed, not acked
    finally:
        if first.poll() is None:
            first.kill()
        _, stderr = first.communicate(timeout=10)
    assert reached >= 8, stderr
    assert decided(url, database) <= half
    for i, body in enumerate(bodies[half:], start=half):
        bus.publish(body, f"k-{i}")
    second = start(spec, url)
    try:
        assert wait_for(url, database, MESSAGES, second) == MESSAGES
        time.sleep(1.5)  # redeliveries of the killed batch, if any, arrive and are recognised
        second.send_signal(signal.SIGTERM)
        _, stderr = second.communicate(timeout=30)
    finally:
        if second.poll() is None:
            second.kill()
            second.wait()
    assert second.returncode == 0, stderr
    with open_store(url) as store, store.engine.connect() as conn:
        entities = [r.entity_id for r in conn.execute(sa.select(decisions.c.entity_id))]
        doubled = conn.execute(
            sa.select(deliveries.c.decision_id)
            .group_by(deliveries.c.decision_id, deliveries.c.action)
            .having(sa.func.count() > 1)
        ).all()
    assert len(entities) == MESSAGES == len(set(entities))  # one decision per message
    assert doubled == []  # no action written twice
