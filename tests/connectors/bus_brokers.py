"""The message brokers on 127.0.0.1 for the bus connectors' tests (RabbitMQ 5672, NATS with
JetStream 4222, Redis 6379, Mosquitto 1883), and a TCP proxy in front of one of them that a
test can stall (the broker takes the message and never answers) or shut (the broker is down)
without touching the shared broker.

Tests make their own exchange, stream or key with a random suffix and delete it afterwards:
the brokers are shared by everyone on the machine.
"""

from __future__ import annotations

import secrets
import select
import socket
import threading

from tests.brokers import BROKERS, SKIP_ENV, broker_up, require_broker

__all__ = ["BROKERS", "SKIP_ENV", "Proxy", "broker_up", "require_broker", "suffix"]


def suffix() -> str:
    """A random suffix for names this test owns on a shared broker."""
    return secrets.token_hex(4)


class Proxy:
    """Forwards 127.0.0.1:``port`` to a broker's port, until :meth:`stall` (bytes from the
    broker are held back: a publish is taken but never acknowledged) or :meth:`shut` (every
    connection is closed and new ones refused: the broker is down); :meth:`open` undoes both."""

    def __init__(self, target: int) -> None:
        self.target = target
        self.port = 0
        self._lock = threading.Lock()
        self._pairs: list[tuple[socket.socket, socket.socket]] = []
        self._stalled = threading.Event()
        self._listener: socket.socket | None = None
        self._thread: threading.Thread | None = None
        self.open()

    def stall(self) -> None:
        self._stalled.set()

    def shut(self) -> None:
        """Stop listening (connections are refused) and close every connection."""
        with self._lock:
            listener, self._listener = self._listener, None
            pairs, self._pairs = self._pairs, []
        if listener is not None:
            try:
                listener.shutdown(socket.SHUT_RDWR)  # wakes the thread blocked in accept()
            except OSError:
                pass
            listener.close()
        for pair in pairs:
            _close(*pair)
        if self._thread is not None:
            self._thread.join(timeout=5)

    def open(self) -> None:
        """Listen again (on the same port) and let the broker's answers through."""
        self._stalled.clear()
        with self._lock:
            if self._listener is not None:
                return
            listener = socket.create_server(("127.0.0.1", self.port))
            self.port = listener.getsockname()[1]
            self._listener = listener
        self._thread = threading.Thread(
            target=self._accept, args=(listener,), name="bus-proxy", daemon=True
        )
        self._thread.start()

    def close(self) -> None:
        self.shut()

    def __enter__(self) -> Proxy:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
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
