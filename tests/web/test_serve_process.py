"""A real uvicorn process: decisions over HTTP, then ``kill -9`` under load. Every decision
acknowledged with 200 must be in the store afterwards (the durability promise)."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from tests.web.conftest import customer

from doorstep.store import open_store
from doorstep.web.factory import SETTINGS_ENV, SPECS_ENV

pytestmark = pytest.mark.slow


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def server(churn_app_template: Path, tmp_path: Path) -> Iterator[tuple[str, str, str, int]]:
    url = f"sqlite:///{tmp_path / 'doorstep.db'}"
    store = open_store(url)
    _, secret = store.create_key("load", "client", actor="test")
    store.close()
    port = free_port()
    env = {
        **os.environ,
        SPECS_ENV: str(churn_app_template / "doorstep.yaml"),
        SETTINGS_ENV: json.dumps({"max_wait_ms": 2.0}),
        "DOORSTEP_DATABASE_URL": url,
    }
    command = [sys.executable, "-m", "uvicorn", "--factory", "doorstep.web.factory:app_from_env"]
    command += ["--host", "127.0.0.1", "--port", str(port), "--no-access-log"]
    process = subprocess.Popen(
        command, env=env, cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120  # a start-up on a machine busy with other tests
    while True:
        try:
            if httpx.get(base + "/readyz", timeout=1).status_code == 200:
                break
        except httpx.TransportError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            raise AssertionError(process.stderr.read().decode() if process.stderr else "")
        time.sleep(0.2)
    try:
        yield base, secret, url, process.pid
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(timeout=10)
        if process.stderr:
            process.stderr.close()


def test_kill_9_under_load_loses_no_acknowledged_decision(
    server: tuple[str, str, str, int],
) -> None:
    base, secret, url, pid = server
    headers = {"Authorization": f"Bearer {secret}"}
    acknowledged: list[str] = []

    async def same_key() -> set[str]:
        async with httpx.AsyncClient(headers=headers, timeout=30) as client:
            responses = await asyncio.gather(
                *(
                    client.post(
                        f"{base}/v1/apps/churn/decisions",
                        json=customer(999_999),
                        headers={"Idempotency-Key": "one-key"},
                    )
                    for _ in range(10)
                )
            )
        assert {r.status_code for r in responses} == {200}
        return {r.json()["decision_id"] for r in responses}

    assert len(asyncio.run(same_key())) == 1, "one key made several decisions"

    async def load() -> None:
        deadline = time.monotonic() + 30.0  # bounded, however slow the machine is
        killed = asyncio.Event()

        async def worker(client: httpx.AsyncClient, number: int) -> None:
            n = 0
            while time.monotonic() < deadline:
                n += 1
                batch = n % 10 == 0
                body = (
                    {"records": [customer(number * 1000 + n + i) for i in range(20)]}
                    if batch
                    else customer(number * 1000 + n)
                )
                try:
                    response = await client.post(f"{base}/v1/apps/churn/decisions", json=body)
                except httpx.TransportError:
                    if killed.is_set():
                        return
                    continue
                assert response.status_code == 200, response.text
                payload = response.json()
                decisions = payload["decisions"] if batch else [payload]
                acknowledged.extend(d["decision_id"] for d in decisions)

        async def killer() -> None:
            # kill in the middle of the load: once the server has acknowledged enough decisions
            while len(acknowledged) < 150 and time.monotonic() < deadline - 5:
                await asyncio.sleep(0.05)
            os.kill(pid, signal.SIGKILL)
            killed.set()

        limits = httpx.Limits(max_connections=32)
        async with httpx.AsyncClient(headers=headers, timeout=10, limits=limits) as client:
            await asyncio.gather(killer(), *(worker(client, i) for i in range(1, 17)))

    asyncio.run(load())
    assert len(acknowledged) > 100, "the server answered too few requests before the kill"
    store = open_store(url)
    try:
        missing = [i for i in acknowledged if store.get_decision(i) is None]
    finally:
        store.close()
    assert not missing, f"{len(missing)} acknowledged decisions were lost"
