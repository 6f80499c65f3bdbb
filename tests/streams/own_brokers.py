"""Brokers of a test's own, to restart mid-stream without touching the machine's shared ones: a
nats-server with JetStream on disk, a redis-server with its append-only file, a Mosquitto with
persistence, each on a free port of 127.0.0.1 with its files in the test's folder. Each starts
in well under a second. A RabbitMQ node takes some 15 s to start on this machine, so a
RabbitMQ "restart" is the shared broker closing the consumer's connection from its side
(:func:`close_rabbitmq_connection`, ``CONNECTION_FORCED``, as when a node shuts down).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from pathlib import Path

import pytest
from tests.brokers import SKIP_ENV

__all__ = [
    "OwnBroker",
    "OwnMosquitto",
    "OwnNATS",
    "OwnRedis",
    "close_rabbitmq_connection",
    "free_port",
    "require_program",
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def require_program(name: str, fallback: str) -> str:
    """The path of the broker program ``name``: skipped with ``DOORSTEP_TEST_BROKERS=skip``,
    failed when it is missing."""
    if os.environ.get(SKIP_ENV) == "skip":
        pytest.skip(f"broker tests skipped ({SKIP_ENV}=skip)")
    found = shutil.which(name) or fallback
    if not Path(found).exists():
        pytest.fail(f"{name} is missing; scripts/test installs it")
    return found


class OwnBroker:
    """A broker process with its files in ``folder``, on ``port``; stopped (SIGTERM, so it
    saves what it keeps) and started again on the same port and files."""

    program = ""
    fallback = ""

    def __init__(self, folder: Path) -> None:
        self.program = require_program(self.program, self.fallback)
        self.folder, self.port = folder, free_port()
        folder.mkdir(parents=True, exist_ok=True)
        self.process: subprocess.Popen[bytes] | None = None

    def command(self) -> list[str]:
        raise NotImplementedError

    def start(self) -> None:
        self.process = subprocess.Popen(
            self.command(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=self.folder
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return
            except OSError:
                if self.process.poll() is not None:
                    break
                time.sleep(0.02)
        raise AssertionError(f"{self.program} did not start on port {self.port}")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(10)

    def restart(self) -> None:
        self.stop()
        self.start()


class OwnNATS(OwnBroker):
    program, fallback = "nats-server", "/usr/sbin/nats-server"

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.port}"

    def command(self) -> list[str]:
        base = [self.program, "-a", "127.0.0.1", "-p", str(self.port), "-js"]
        return [*base, "-sd", str(self.folder / "js")]


class OwnRedis(OwnBroker):
    program, fallback = "redis-server", "/usr/bin/redis-server"

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def command(self) -> list[str]:
        settings = ["--bind", "127.0.0.1", "--save", "", "--dir", str(self.folder)]
        durable = ["--appendonly", "yes", "--appendfsync", "always"]
        return [self.program, "--port", str(self.port), *settings, *durable]


class OwnMosquitto(OwnBroker):
    program, fallback = "mosquitto", "/usr/sbin/mosquitto"

    @property
    def url(self) -> str:
        return f"mqtt://127.0.0.1:{self.port}"

    def command(self) -> list[str]:
        config = self.folder / "mosquitto.conf"
        config.write_text(
            f"listener {self.port} 127.0.0.1\nallow_anonymous true\npersistence true\n"
            f"persistence_location {self.folder}/\n"
        )
        return [self.program, "-c", str(config)]


def close_rabbitmq_connection(local_port: int) -> None:
    """Have the shared RabbitMQ close the one connection whose client port is ``local_port``
    (``CONNECTION_FORCED``): every other connection to it is left alone."""
    rabbitmqctl = shutil.which("rabbitmqctl") or "/usr/sbin/rabbitmqctl"
    expression = (
        '[rabbit_networking:close_connection(P, "closed by a doorstep test") '
        "|| P <- rabbit_networking:connections(), "
        f"rabbit_networking:connection_info(P, [peer_port]) =:= [{{peer_port, {local_port}}}]]."
    )
    done = subprocess.run(
        [rabbitmqctl, "eval", expression], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0 and done.stdout.strip() == "[ok]", (done.stdout, done.stderr)
