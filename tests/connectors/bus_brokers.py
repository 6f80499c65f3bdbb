"""The message brokers on 127.0.0.1 for the bus connectors' tests (RabbitMQ 5672, NATS with
JetStream 4222, Redis 6379, Mosquitto 1883), and a TCP proxy in front of one of them that a
test can stall (the broker takes the message and never answers) or shut (the broker is down)
without touching the shared broker.

Tests make their own exchange, stream or key with a random suffix and delete it afterwards:
the brokers are shared by everyone on the machine.
"""

from __future__ import annotations

import os
import secrets
import select
import socket
import threading

import pytest

__all__ = ["BROKERS", "SKIP_ENV", "Proxy", "broker_up", "require_broker", "suffix"]

BROKERS = {"rabbitmq": 5672, "nats": 4222, "redis": 6379, "mqtt": 1883}
"""Port of each broker on 127.0.0.1."""
SKIP_ENV = "DOORSTEP_TEST_BROKERS"
"""Set to ``skip`` to skip the tests whose broker is not running (they fail otherwise)."""


def broker_up(kind: str, *, timeout: float = 1.0) -> bool:
    """Whether the broker of ``kind`` accepts TCP connections on 127.0.0.1."""
    try:
        with socket.create_connection(("127.0.0.1", BROKERS[kind]), timeout=timeout):
            return True
    except OSError:
        return False


def require_broker(kind: str) -> None:
    """Fail the test when the broker of ``kind`` is not running (``scripts/test`` starts them),
    or skip it when :data:`SKIP_ENV` is ``skip``."""
    if broker_up(kind):
        return
    message = f"no {kind} broker on 127.0.0.1:{BROKERS[kind]}"
    if os.environ.get(SKIP_ENV) == "skip":
        pytest.skip(message)
    pytest.fail(f"{message}: start it, or set {SKIP_ENV}=skip")


def suffix() -> str:
    """A random suffix for names this test owns on a shared broker."""
    return secrets.token_hex(4)


class Proxy:
    """Forwards 127.0.0.1:``port`` to a broker's port, until :meth:`stall` (bytes from the
    broker are held back: a publish is taken but never acknowledged) or :meth:`shut` (every
    connection is closed and new ones refused: the broker is down); :meth:`open` undoes both."""

    def __init__(self, target: int) -> None:
        self.target = target
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self._listener.getsockname()[1]
        self._lock = threading.Lock()
        self._pairs: list[tuple[socket.socket, socket.socket]] = []
        self._stalled = threading.Event()
        self._shut = False
        self._stop = False
        self._thread = threading.Thread(target=self._accept, name="bus-proxy", daemon=True)
        self._thread.start()

    def stall(self) -> None:
        self._stalled.set()

    def shut(self) -> None:
        with self._lock:
            self._shut = True
            pairs, self._pairs = self._pairs, []
        for pair in pairs:
            _close(*pair)

    def open(self) -> None:
        with self._lock:
            self._shut = False
        self._stalled.clear()

    def close(self) -> None:
        self._stop = True
        self.shut()
        self._listener.close()
        self._thread.join(timeout=5)

    def __enter__(self) -> Proxy:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _accept(self) -> None:
        while not self._stop:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            with self._lock:
                refused = self._shut
            if refused:
                client.close()
                continue
            try:
                upstream = socket.create_connection(("127.0.0.1", self.target), timeout=5)
            except OSError:
                client.close()
                continue
            with self._lock:
                self._pairs.append((client, upstream))
            threading.Thread(target=self._pump, args=(client, upstream), daemon=True).start()

    def _pump(self, client: socket.socket, upstream: socket.socket) -> None:
        try:
            while True:
                # stalled: the broker's answers are held back and never arrive
                watched = [client] if self._stalled.is_set() else [client, upstream]
                ready, _, _ = select.select(watched, [], [], 0.05)
                for sock in ready:
                    data = sock.recv(65536)
                    if not data:
                        return
                    (upstream if sock is client else client).sendall(data)
        except (OSError, ValueError):
            return
        finally:
            _close(client, upstream)


def _close(*socks: socket.socket) -> None:
    for sock in socks:
        try:
            sock.close()
        except OSError:
            pass
