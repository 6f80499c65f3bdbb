"""The message brokers the tests use on 127.0.0.1: RabbitMQ (5672, guest/guest), NATS with
JetStream (4222), Redis (6379) and Mosquitto (1883). ``scripts/test`` uses the running ones or
starts throwaway ones; a test whose broker cannot be reached fails loudly, unless
``DOORSTEP_TEST_BROKERS=skip`` (then it is skipped).

The brokers are shared by everyone on the machine: tests make names of their own with a random
suffix and delete them afterwards.
"""

from __future__ import annotations

import os
import socket

import pytest

__all__ = ["BROKERS", "SKIP_ENV", "broker_up", "require_broker"]

BROKERS = {"rabbitmq": 5672, "nats": 4222, "redis": 6379, "mqtt": 1883}
"""Port of each broker on 127.0.0.1."""
SKIP_ENV = "DOORSTEP_TEST_BROKERS"
"""Set to ``skip`` to skip the broker tests (they fail when their broker is down otherwise)."""


def broker_up(kind: str, *, timeout: float = 1.0) -> bool:
    """Whether the broker of ``kind`` accepts TCP connections on 127.0.0.1."""
    try:
        with socket.create_connection(("127.0.0.1", BROKERS[kind]), timeout=timeout):
            return True
    except OSError:
        return False


def require_broker(kind: str) -> None:
    """Skip when :data:`SKIP_ENV` is ``skip``; fail when the broker of ``kind`` is down."""
    if os.environ.get(SKIP_ENV) == "skip":
        pytest.skip(f"broker tests skipped ({SKIP_ENV}=skip)")
    if not broker_up(kind):
        pytest.fail(
            f"no {kind} broker on 127.0.0.1:{BROKERS[kind]}: scripts/test starts one, "
            f"or set {SKIP_ENV}=skip"
        )
