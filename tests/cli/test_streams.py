"""``doorstep consume`` (until SIGTERM, against Redis) and ``doorstep streams list``."""

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
from typer.testing import CliRunner

from doorstep.cli.main import app
from doorstep.store import open_store
from doorstep.store.tables import decisions

runner = CliRunner()


@pytest.fixture
def redis_bus() -> Iterator[Bus]:
    yield from open_bus("redis")


def with_stream(spec: Path, bus: Bus, source_type: str | None = None) -> Path:
    source = {**bus.source, **({"type": source_type} if source_type else {})}
    block = {"orders": {"source": source, "dead_letter": bus.dead_letter, "wait": 0.1}}
    spec.write_text(spec.read_text() + "\nstreams: " + json.dumps(block) + "\n")
    return spec


def test_consume_runs_until_sigterm(churn_app: Path, tmp_path: Path, redis_bus: Bus) -> None:
    spec = with_stream(churn_app / "doorstep.yaml", redis_bus)
    url = f"sqlite:///{tmp_path / 'doorstep.db'}"
    rows = pl.read_parquet(churn_app / "customers.parquet").head(3).drop("email", "nps_score")
    for i, row in enumerate(rows.to_dicts()):
        redis_bus.publish(orjson.dumps(row), f"m-{i}")
    command = [sys.executable, "-c", "from doorstep.cli.main import main; main()"]
    process = subprocess.Popen(
        [*command, "consume", str(spec), "--db", url],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "COLUMNS": "200"},
    )
    try:
        deadline, decided = time.monotonic() + 60, 0
        while time.monotonic() < deadline and decided < 3 and process.poll() is None:
            time.sleep(0.1)
            if (tmp_path / "doorstep.db").exists():
                with open_store(url) as store, store.engine.connect() as conn:
                    query = sa.select(sa.func.count()).select_from(decisions)
                    decided = int(conn.execute(query).scalar_one())
        assert decided == 3
        redis_bus.publish(b'{"customer_id": "C-1", "plan": "gold"}', "poison")
        time.sleep(0.5)
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=20)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 0, stderr
    assert "Consuming churn/orders (redis)" in stderr and "Stopping (SIGTERM)" in stderr
    listed = runner.invoke(app, ["streams", "list", "--db", url], env={"COLUMNS": "250"})
    assert listed.exit_code == 0, listed.output
    line = next(text for text in listed.stdout.splitlines() if "orders" in text)
    cells = [cell.strip() for cell in line.strip("│ ").split("│")]
    assert cells[:3] == ["churn", "orders", "redis"]
    assert cells[4:12] == ["0", cells[5], "4", "3", "0", "1", "1", "0"]
    assert len(redis_bus.dead_letters()) == 1


def test_consume_locates_a_source_type_not_installed(
    churn_app: Path, redis_bus: Bus, tmp_path: Path
) -> None:
    spec = with_stream(churn_app / "doorstep.yaml", redis_bus, source_type="kafka")
    db = f"sqlite:///{tmp_path / 'doorstep.db'}"
    result = runner.invoke(app, ["consume", str(spec), "--db", db])
    assert result.exit_code == 1 and "spec_invalid" in result.stderr
    assert "streams.orders.source.type: No stream source of type 'kafka'" in result.stderr


def test_consume_needs_a_stream(churn_app: Path, tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'doorstep.db'}"
    result = runner.invoke(app, ["consume", str(churn_app), "--db", db])
    assert result.exit_code == 1 and "declare no streams" in result.stderr


def test_streams_list_before_any_consumer(tmp_path: Path) -> None:
    result = runner.invoke(app, ["streams", "list", "--db", f"sqlite:///{tmp_path / 'd.db'}"])
    assert result.exit_code == 0 and "No stream has been consumed yet" in result.stdout
