"""A real HTTP receiver for connector tests.

:class:`Receiver` is a threaded ``http.server`` on a free local port (IPv4 or IPv6, plain or
TLS). It records every accepted connection and request, answers with scripted replies, and
verifies Standard Webhooks signatures with the ``standardwebhooks`` package, the way a client's
endpoint would, so the tests check doorstep against an independent implementation.
"""

from __future__ import annotations

import json
import socket
import ssl
import threading
import time
from collections import Counter, deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any

from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError


@dataclass(frozen=True)
class Reply:
    """One scripted answer; ``delay`` seconds pass before it is sent."""

    status: int = 200
    body: bytes = b""
    headers: Mapping[str, str] = field(default_factory=dict)
    delay: float = 0.0
    echo: bool = False
    """Answer with the request's path (as received, percent-encoding and all) as the body
    and as ``Location``, as receivers that echo what they were asked do."""
    trickle: float = 0.0
    """Seconds between the bytes of the answer, sent one at a time (status line and headers
    too): each read of a client gets a byte well within its timeout, so only a deadline for
    the whole attempt ends it."""


@dataclass(frozen=True)
class Received:
    """One request as the receiver saw it."""

    method: str
    path: str
    headers: dict[str, str]
    """Lower-cased names."""
    body: bytes
    verified_with: tuple[str, ...]
    """The receiver's secrets under which the signature verified."""
    complete: bool = True
    """False when the client hung up before sending all of ``Content-Length`` (e.g. killed);
    such a request is recorded, never answered."""

    def json(self) -> Any:
        return json.loads(self.body)


class Receiver:
    """Use as a context manager; ``url(path)`` is where to send requests. ``port`` 0 takes a
    free one; a given port lets a test start the receiver late where clients already send."""

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        secrets: Sequence[str] = (),
        tls: ssl.SSLContext | None = None,
        port: int = 0,
    ) -> None:
        self.host = host
        self.secrets = tuple(secrets)
        self.tls = tls
        self.requests: list[Received] = []
        self.accepts = 0
        self._open: dict[int, float] = {}
        """Requests read whose answer is not sent yet (e.g. held by a ``Reply.delay``), by
        handler, with the monotonic time each arrived."""
        self.server_names: list[str | None] = []
        self._replies: dict[str, deque[Reply]] = {}
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self._server = _Server((host, port), _Handler, self, family)
        self.port: int = self._server.server_address[1]
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )
        if tls is not None:
            tls.sni_callback = self._record_sni

    def url(self, path: str = "/hook", *, host: str | None = None) -> str:
        host = host or (f"[{self.host}]" if ":" in self.host else self.host)
        return f"{'https' if self.tls else 'http'}://{host}:{self.port}{path}"

    def script(self, path: str, *replies: Reply) -> None:
        """Answer requests to ``path`` with ``replies`` in order; the last one repeats."""
        with self._lock:
            self._replies[path] = deque(replies)

    @property
    def in_progress(self) -> int:
        """Requests read whose answer is not sent yet."""
        with self._lock:
            return len(self._open)

    def in_progress_since(self, moment: float) -> int:
        """Requests not answered yet that arrived after ``moment`` (``time.monotonic()``): the
        sends in flight of a client started then, not of one killed before."""
        with self._lock:
            return sum(1 for arrived in self._open.values() if arrived >= moment)

    def requests_to(self, path: str) -> list[Received]:
        with self._lock:
            return [r for r in self.requests if r.path == path]

    def webhook_ids(self, path: str | None = None) -> Counter[str]:
        """How many complete requests (to ``path``, or to any path) carried each
        ``webhook-id``."""
        with self._lock:
            return Counter(
                r.headers.get("webhook-id", "")
                for r in self.requests
                if r.complete and (path is None or r.path == path)
            )

    def __enter__(self) -> Receiver:
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._stopping.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    def _next_reply(self, path: str) -> Reply:
        with self._lock:
            queue = self._replies.get(path)
            if not queue:
                return Reply(200, b'{"ok": true}')
            return queue.popleft() if len(queue) > 1 else queue[0]

    def _record(
        self, method: str, path: str, headers: dict[str, str], body: bytes, complete: bool
    ) -> None:
        verified = []
        for secret in self.secrets:
            try:
                Webhook(secret).verify(body, headers, json_parse=False)
            except WebhookVerificationError:
                continue
            verified.append(secret)
        with self._lock:
            self.requests.append(Received(method, path, headers, body, tuple(verified), complete))

    def _accepted(self) -> None:
        with self._lock:
            self.accepts += 1

    def _record_sni(self, _sock: ssl.SSLObject, name: str | None, _ctx: ssl.SSLContext) -> None:
        with self._lock:
            self.server_names.append(name)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128

    def __init__(
        self, address: tuple[str, int], handler: type[_Handler], receiver: Receiver, family: int
    ) -> None:
        self.address_family = family
        self.receiver = receiver
        super().__init__(address, handler)

    def get_request(self) -> tuple[socket.socket, Any]:
        conn, address = super().get_request()
        self.receiver._accepted()
        if self.receiver.tls is not None:
            conn = self.receiver.tls.wrap_socket(
                conn, server_side=True, do_handshake_on_connect=False
            )
        return conn, address

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Clients that hang up (timeouts, refused certificates) are expected here."""


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def setup(self) -> None:
        if isinstance(self.request, ssl.SSLSocket):
            self.request.do_handshake()
        super().setup()

    def do_POST(self) -> None:
        receiver = self.server.receiver
        length = int(self.headers.get("Content-Length", "0"))
        body = self.rfile.read(length)
        headers = {name.lower(): value for name, value in self.headers.items()}
        path = self.path
        with receiver._lock:
            receiver._open[id(self)] = time.monotonic()
        try:
            receiver._record(self.command, path, headers, body, len(body) == length)
            if len(body) < length:  # the client hung up mid-body: nobody to answer
                self.close_connection = True
                return
            reply = receiver._next_reply(path)
            if reply.delay and receiver._stopping.wait(reply.delay):
                self.close_connection = True
                return
            answer, headers = reply.body, dict(reply.headers)
            if reply.echo:
                answer, headers["Location"] = f"not found: {path}".encode(), path
            if reply.trickle:
                self._trickle(reply, answer, headers)
                return
            self.send_response(reply.status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)
        finally:
            with receiver._lock:
                del receiver._open[id(self)]

    do_GET = do_POST

    def _trickle(self, reply: Reply, answer: bytes, headers: dict[str, str]) -> None:
        """Send the whole answer a byte every ``reply.trickle`` seconds, until the client
        hangs up or the receiver stops."""
        lines = [f"HTTP/1.1 {reply.status} {self.responses[reply.status][0]}"]
        lines += [f"{name}: {value}" for name, value in headers.items()]
        lines.append(f"Content-Length: {len(answer)}")
        data = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + answer
        self.close_connection = True
        for index in range(len(data)):
            if self.server.receiver._stopping.wait(reply.trickle):
                return
            try:
                self.wfile.write(data[index : index + 1])
            except OSError:  # the client gave up
                return

    def log_message(self, format: str, *args: Any) -> None:
        """Silent: the tests read :attr:`Receiver.requests` instead."""
