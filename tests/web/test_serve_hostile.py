"""Hostile requests against a real server (uvicorn in its own process, as `doorstep serve` runs
it): a body far beyond the limit streamed by an anonymous caller and by a signed-in one, deep
JSON, text that is not Unicode, broken headers and dates at the calendar's ends. Each gets a 4xx
problem; the server's memory stays bounded and it keeps answering."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from tests.web.conftest import customer
from tests.web.test_serve_process import free_port

from doorstep.store import open_store
from doorstep.web.factory import SETTINGS_ENV, SPECS_ENV

pytestmark = pytest.mark.slow

LIMIT = 1024 * 1024  # a 1 MiB body limit, so that 64 MiB is far beyond it
HUGE = 64 * 1024 * 1024


def rss_mib(pid: int) -> float:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


@pytest.fixture
def server(churn_app_template: Path, tmp_path: Path) -> Iterator[tuple[str, str, int]]:
    url = f"sqlite:///{tmp_path / 'doorstep.db'}"
    with open_store(url) as store:
        _, secret = store.create_key("hostile", "client", actor="test")
    port = free_port()
    env = {
        **os.environ,
        SPECS_ENV: str(churn_app_template / "doorstep.yaml"),
        SETTINGS_ENV: json.dumps({"max_body_bytes": LIMIT, "schedules": False}),
        "DOORSTEP_DATABASE_URL": url,
    }
    command = [sys.executable, "-m", "uvicorn", "--factory", "doorstep.web.factory:app_from_env"]
    command += ["--host", "127.0.0.1", "--port", str(port), "--no-access-log"]
    process = subprocess.Popen(
        command, env=env, cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
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
        yield base, secret, process.pid
    finally:
        process.kill()
        process.wait(timeout=10)
        if process.stderr:
            process.stderr.close()


def stream(total: int) -> Iterator[bytes]:
    chunk = b"x" * (256 * 1024)
    for _ in range(total // len(chunk)):
        yield chunk


def send_raw(base: str, request: bytes) -> bytes:
    """A request written byte for byte (headers httpx would refuse to send), and the answer."""
    host, port = base.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(request)
        answer = b""
        while b"\r\n\r\n" not in answer:
            data = sock.recv(65536)
            if not data:
                break
            answer += data
    return answer


def test_hostile_requests_get_problems_and_the_server_stays_small_and_up(
    server: tuple[str, str, int],
) -> None:
    base, secret, pid = server
    auth = {"Authorization": f"Bearer {secret}"}
    with httpx.Client(base_url=base, timeout=60) as client:
        assert client.post("/v1/apps/churn/decisions", json=customer(1), headers=auth).is_success
        before = rss_mib(pid)
        for path, headers in (
            ("/sign-in", {}),
            ("/v1/apps/churn/decisions", {}),
            ("/v1/apps/churn/decisions", auth),
            ("/v1/apps/churn/outcomes", auth),
        ):
            try:
                answer = client.post(path, content=stream(HUGE), headers=headers)
            except httpx.TransportError:
                continue  # the server may close the connection on a body it refused early
            assert answer.status_code in (401, 413), (path, answer.status_code)
        bodies = [
            ('{"a":' * 50_000 + "1" + "}" * 50_000).encode(),
            ("[" * 100_000 + "]" * 100_000).encode(),
            json.dumps(customer(2, region="POISON")).replace('"POISON"', '"\\ud800"').encode(),
            b"\xff\xfe\x00 not utf-8",
            b'{"customer_id": 1e999999}',
        ]
        for body in bodies:
            answer = client.post(
                "/v1/apps/churn/decisions",
                content=body,
                headers={**auth, "Content-Type": "application/json"},
            )
            assert 400 <= answer.status_code < 500, (body[:40], answer.status_code, answer.text)
        for params in (
            {"until": "9999-12-31T23:59:59Z"},
            {"since": "0001-01-01T00:00:00Z", "until": "0001-01-02T00:00:00Z"},
        ):
            answer = client.get("/v1/apps/churn/monitoring", params=params, headers=auth)
            assert answer.status_code in (401, 403, 200, 422), answer.text  # a client key: 403
        grown = rss_mib(pid) - before
        assert grown < 64, f"the server grew by {grown:.0f} MiB"
        assert client.get("/healthz").status_code == 200
        assert client.post("/v1/apps/churn/decisions", json=customer(3), headers=auth).is_success
    # headers a client library would refuse to send
    for raw in (
        b"POST /v1/apps/churn/decisions HTTP/1.1\r\nHost: t\r\nContent-Length: -5\r\n\r\n",
        b"POST /v1/apps/churn/decisions HTTP/1.1\r\nHost: t\r\nContent-Length: 99999999999999"
        b"99999\r\n\r\n",
        b"GET /v1/apps HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer \xff\xfe\r\n\r\n",
        b"GET /v1/apps?%ff=%fe HTTP/1.1\r\nHost: t\r\n\r\n",
    ):
        status = send_raw(base, raw).split(b" ", 2)[1:2]
        assert status and 400 <= int(status[0]) < 500, (raw, status)
    assert httpx.get(base + "/healthz").status_code == 200
