"""A broker restarted mid-stream (a NATS server of the test's own, JetStream on disk): the
consumer reconnects and decides every message once."""

from __future__ import annotations

import asyncio
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import polars as pl
import pytest
import sqlalchemy as sa
from tests.streams.brokers import SKIP_ENV

from doorstep.core.spec.streams import StreamSpec
from doorstep.plugins import open_stream
from doorstep.services.apps.loading import LoadedApp
from doorstep.services.decide.streams import StreamConsumer
from doorstep.store import open_store
from doorstep.store.tables import decisions

NATS_SERVER = shutil.which("nats-server") or "/usr/sbin/nats-server"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class OwnNATS:
    """A nats-server with JetStream in ``folder``, on ``port``; stopped and started again."""

    def __init__(self, folder: Path, port: int) -> None:
        self.folder, self.port = folder, port
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        command = [NATS_SERVER, "-a", "127.0.0.1", "-p", str(self.port), "-js", "-sd"]
        self.process = subprocess.Popen([*command, str(self.folder)], stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return
            except OSError:
                time.sleep(0.05)
        raise AssertionError("nats-server did not start")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(10)


@pytest.fixture
def own_nats(tmp_path: Path) -> Iterator[OwnNATS]:
    import os

    if os.environ.get(SKIP_ENV) == "skip":
        pytest.skip(f"broker tests skipped ({SKIP_ENV}=skip)")
    if not Path(NATS_SERVER).exists():
        pytest.fail("nats-server is missing; scripts/test installs it")
    server = OwnNATS(tmp_path / "js", free_port())
    server.start()
    try:
        yield server
    finally:
        server.stop()


def publish(port: int, bodies: list[bytes], *, create: bool) -> None:
    import nats

    async def go() -> None:
        nc: Any = await nats.connect(f"nats://127.0.0.1:{port}")
        js = nc.jetstream()
        if create:
            await js.add_stream(name="ORDERS", subjects=["orders.>"])
        for body in bodies:
            await js.publish("orders.created", body)
        await nc.close()

    asyncio.run(go())


@pytest.mark.slow
def test_broker_restart_mid_stream(
    own_nats: OwnNATS, churn_loaded_app: LoadedApp, churn_app_template: Path, tmp_path: Path
) -> None:
    frame = pl.read_parquet(churn_app_template / "customers.parquet").head(12).drop("email")
    bodies = [orjson.dumps({k: v for k, v in r.items() if v is not None}) for r in frame.to_dicts()]
    publish(own_nats.port, bodies[:6], create=True)
    spec = StreamSpec.model_validate(
        {
            "source": {
                "type": "nats",
                "url": f"nats://127.0.0.1:{own_nats.port}",
                "stream": "ORDERS",
                "subject": "orders.created",
                "durable": "doorstep",
                "ack_wait": 1,
            },
            "batch": 3,
            "wait": 0.2,
        }
    )
    store = open_store(f"sqlite:///{tmp_path / 'doorstep.db'}")
    consumer = StreamConsumer(
        churn_loaded_app, store, "orders", spec, open_stream("orders", spec), pause=0.05
    )
    try:
        assert consumer.step().received == 3
        own_nats.stop()
        failed = consumer.step()  # the bus is gone: nothing fetched, or a failure to retry
        assert failed.received == 0
        own_nats.start()
        publish(own_nats.port, bodies[6:], create=False)
        deadline = time.monotonic() + 30
        received = 3
        while received < 12 and time.monotonic() < deadline:
            received += consumer.step().received
        with store.engine.connect() as conn:
            entities = [r.entity_id for r in conn.execute(sa.select(decisions.c.entity_id))]
    finally:
        consumer.source.close()
        store.close()
    assert received >= 12
    assert sorted(entities) == sorted(frame["customer_id"].to_list())  # each once
