"""Two real server processes on one store switch the champion within a bounded time after a
promotion or a rollback made elsewhere (each polls the store's stage generation): the bound is
the poll interval plus the time to load and check the model (docs/rollout.md)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from tests.fixtures_db import ON_BOTH_DATABASES
from tests.web.conftest import customer
from tests.web.test_serve_process import free_port

from doorstep.services.apps.registry import Registry, register_apps
from doorstep.services.rollout import stages
from doorstep.services.rollout.register import register_version
from doorstep.services.rollout.stages import Caller
from doorstep.store import open_store
from doorstep.store.protocols import StageChange
from doorstep.web.factory import SETTINGS_ENV, SPECS_ENV

pytestmark = [pytest.mark.slow, ON_BOTH_DATABASES]

POLL = 0.2
BOUND = 20.0
"""Seconds a switch may take here: the poll, loading and checking the model (about a second),
and a machine busy with other tests."""


def start(spec: Path, url: str, home: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    settings = {"stage_poll_seconds": POLL, "home": str(home), "schedules": False}
    env = {
        **os.environ,
        SPECS_ENV: str(spec),
        SETTINGS_ENV: json.dumps({**settings, "deliver": False}),
        "DOORSTEP_DATABASE_URL": url,
    }
    command = [sys.executable, "-m", "uvicorn", "--factory", "doorstep.web.factory:app_from_env"]
    command += ["--host", "127.0.0.1", "--port", str(port), "--no-access-log"]
    process = subprocess.Popen(
        command, env=env, cwd=home.parent, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    return process, f"http://127.0.0.1:{port}"


def wait_ready(process: subprocess.Popen[bytes], base: str) -> None:
    deadline = time.monotonic() + 120
    while True:
        try:
            if httpx.get(base + "/readyz", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            raise AssertionError(process.stderr.read().decode() if process.stderr else "")
        time.sleep(0.2)


@pytest.fixture
def servers(
    churn_registry: Registry, churn_app_template: Path, store_url: str, tmp_path: Path
) -> Iterator[tuple[list[str], str]]:
    from doorstep.examples.churn import generate_customers, train_model

    retrained = tmp_path / "model-v2.lgb.txt"
    booster = train_model(generate_customers(2_000, seed=11), trees=20, seed=11)
    booster.save_model(str(retrained))  # type: ignore[attr-defined]
    with open_store(store_url) as store:
        register_apps(churn_registry, store, actor="test", models=tmp_path / "models")
        app = churn_registry.get("churn")
        register_version(app, store, retrained, version="2", models=tmp_path / "models", actor="t")
        secret = store.create_key("ops", "admin", actor="test")[1]
    spec = churn_app_template / "doorstep.yaml"
    started = [start(spec, store_url, tmp_path / f"home-{i}") for i in range(2)]
    try:
        for process, base in started:
            wait_ready(process, base)
        yield [base for _, base in started], secret
    finally:
        for process, _ in started:
            if process.poll() is None:
                process.kill()
            process.wait(timeout=10)
            if process.stderr:
                process.stderr.close()


def served_everywhere(bases: list[str], secret: str, version: str) -> float:
    """Seconds until every server decides with ``version``."""
    headers = {"Authorization": f"Bearer {secret}"}
    started = time.monotonic()
    pending = set(bases)
    while pending:
        for base in sorted(pending):
            answer = httpx.post(
                base + "/v1/apps/churn/decisions", json=customer(7), headers=headers, timeout=10
            )
            assert answer.status_code == 200, answer.text
            if answer.json()["model_version"] == version:
                pending.discard(base)
        elapsed = time.monotonic() - started
        assert elapsed < BOUND, f"{sorted(pending)} still not on version {version}"
        time.sleep(0.05)
    return time.monotonic() - started


def test_every_server_switches_within_the_bound(
    servers: tuple[list[str], str], store_url: str, churn_registry: Registry
) -> None:
    bases, secret = servers
    first = churn_registry.get("churn").model_version
    assert served_everywhere(bases, secret, first) < 1.0  # served from the start
    with open_store(store_url) as store:
        changes = [StageChange(first, "retired"), StageChange("2", "champion")]
        store.change_model_stages("churn", changes, actor="t", reason="promotion", expect=None)
        promoted = served_everywhere(bases, secret, "2")
        stages.rollback(store, "churn", caller=Caller("cli:ops"), reason="complaints")
        rolled_back = served_everywhere(bases, secret, first)
    assert promoted < BOUND and rolled_back < BOUND
