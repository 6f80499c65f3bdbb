"""The parts of the fault tests: the churn spec pointed at a receiver, deliveries made through
the store, ``doorstep`` processes that are always killed at teardown, bounded waits, and the
checks that every fault test makes of the outbox and of what the receiver got."""

from __future__ import annotations

import base64
import os
import signal
import subprocess
import sys
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from tests.connectors.receivers import Receiver
from tests.store.factories import decision

from doorstep.services.apps.loading import read_spec
from doorstep.services.deliver.actions import deliveries_for
from doorstep.services.deliver.connectors import SpecFile
from doorstep.store import DeliveryRecord, RecordRequest, Store
from doorstep.store.tables import deliveries, delivery_attempts

SECRET = "whsec_" + base64.b64encode(b"doorstep fault tests: 32 bytes!!").decode()
HOOK = "/hooks/doorstep"
MAIN = "from doorstep.cli.main import main; main()"
OK = b'{"ok": true}'
Spawn = Callable[..., subprocess.Popen[bytes]]


def with_crm(churn_app: Path, **crm: str) -> Path:
    """The churn example's spec, with more settings (YAML values) for its ``crm`` webhook."""
    path = churn_app / "doorstep.yaml"
    text = path.read_text()
    end = text.index("\n", text.index("    allow_networks: [127.0.0.1/32]"))
    path.write_text(text[:end] + "".join(f"\n    {k}: {v}" for k, v in crm.items()) + text[end:])
    return path


def crm_env(hook_url: str) -> dict[str, str]:
    """The environment of a process whose ``crm`` connector posts to ``hook_url``."""
    return {
        **os.environ,
        "CRM_WEBHOOK_URL": hook_url,
        "CRM_WEBHOOK_SECRET": SECRET,
        "COLUMNS": "200",
    }


def record_deliveries(
    store: Store, spec: Path, env: dict[str, str], count: int, *, start: int = 0
) -> list[DeliveryRecord]:
    """``count`` decisions to send the ``crm`` webhook, recorded with their deliveries."""
    app = SpecFile(read_spec(spec, env), spec.parent)
    records = [decision(start + i) for i in range(count)]
    wanted = deliveries_for(app, records)
    store.record([RecordRequest(records, deliveries=wanted)], actor="fault-test")
    assert len(wanted) == count
    return wanted


@pytest.fixture
def spawn(tmp_path: Path) -> Iterator[Spawn]:
    """Start ``doorstep ARGS…`` with its output in ``tmp_path/LOG``; all are killed at teardown."""
    started: list[subprocess.Popen[bytes]] = []

    def start(*args: str, env: dict[str, str], log: str) -> subprocess.Popen[bytes]:
        with (tmp_path / log).open("ab") as out:
            process = subprocess.Popen(
                [sys.executable, "-c", MAIN, *args],
                env=env,
                cwd=tmp_path,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        started.append(process)
        return process

    yield start
    for process in started:
        if process.poll() is None:
            process.kill()
        process.wait(timeout=10)


def kill_9(process: subprocess.Popen[bytes]) -> None:
    """SIGKILL: no handler runs, no send in flight ends, no transaction commits."""
    os.kill(process.pid, signal.SIGKILL)
    process.wait(timeout=10)
    assert process.returncode == -signal.SIGKILL


def stop(process: subprocess.Popen[bytes], log: Path) -> None:
    """SIGTERM, then the process must finish its sends and exit 0 within 15 s."""
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=10)
    assert process.returncode == 0, tail(log)


def wait_until(
    check: Callable[[], bool], seconds: float, what: str, log: Path | None = None
) -> None:
    """Poll ``check`` until it holds; fail naming ``what`` (and the log's end) after
    ``seconds``."""
    deadline = time.monotonic() + seconds
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {seconds:g} s\n{tail(log) if log else ''}")
        time.sleep(0.05)


def tail(log: Path, lines: int = 40) -> str:
    """The last ``lines`` of a process's output, for failure messages."""
    return "\n".join(log.read_text(errors="replace").splitlines()[-lines:]) if log.exists() else ""


def attempts_by_delivery(store: Store) -> dict[str, list[Any]]:
    """Every attempt, by delivery, in order."""
    query = sa.select(delivery_attempts).order_by(
        delivery_attempts.c.delivery_id, delivery_attempts.c.number
    )
    by_delivery: dict[str, list[Any]] = defaultdict(list)
    with store.engine.connect() as conn:
        for row in conn.execute(query):
            by_delivery[row.delivery_id].append(row)
    return by_delivery


def delivery_states(store: Store) -> dict[str, str]:
    """Each delivery's state, by key."""
    with store.engine.connect() as conn:
        return dict(conn.execute(sa.select(deliveries.c.key, deliveries.c.state)).all())


def assert_one_worker_at_a_time(attempts: dict[str, list[Any]], lease: float) -> None:
    """A delivery's attempts never overlap, and one is taken over only once its lease ended."""
    for delivery_id, rows in attempts.items():
        assert [r.number for r in rows] == list(range(1, len(rows) + 1)), delivery_id
        assert all(r.finished_at is not None for r in rows), f"{delivery_id} has an open attempt"
        for before, after in zip(rows, rows[1:], strict=False):
            assert before.finished_at <= after.started_at, f"{delivery_id}: attempts overlap"
            if before.outcome == "expired":
                lease_end = before.started_at + timedelta(seconds=lease)
                assert after.started_at >= lease_end, f"{delivery_id}: taken before its lease ended"


def assert_every_request_verified(receiver: Receiver, cut: set[str] | None = None) -> None:
    """Every request arrived whole and verified under the secret, but those cut short (their
    sender killed mid-body) of the ``cut`` keys; each key was sent with one body."""
    requests = receiver.requests_to(HOOK)
    whole = [r for r in requests if r.complete]
    bad = [(r.headers, r.body) for r in whole if r.verified_with != (SECRET,)]
    assert whole and not bad, f"requests not verified: {bad[:3]}"
    short = {r.headers.get("webhook-id", "") for r in requests if not r.complete}
    assert short <= (cut or set()), f"requests cut short: {sorted(short)[:3]}"
    bodies: dict[str, set[bytes]] = defaultdict(set)
    for request in whole:
        bodies[request.headers["webhook-id"]].add(request.body)
    resent = {key for key, sent in bodies.items() if len(sent) > 1}
    assert not resent, f"resent with another body: {sorted(resent)[:3]}"


class Clock:
    """A clock the test moves by hand."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now
