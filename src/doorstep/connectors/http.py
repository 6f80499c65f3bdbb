"""HTTP plumbing shared by the webhook and chat connectors.

One :class:`JSONPoster` per connector POSTs a JSON body once and turns what happened into a
:class:`~doorstep.connectors.base.SendResult`. It speaks HTTP/1.1 through httpcore (the
transport layer of httpx) over keep-alive connections that go through the network guard
(:class:`doorstep.connectors.net.GuardedBackend`). Each send borrows one connection from a stack
of idle ones and gives it back, so the dispatcher's sending threads never queue on a shared
pool: a shared pool scans all of its connections, polling each idle socket, under one lock on
every request, and with a few dozen threads that costs more than the request itself; httpx's
client layer (cookies, redirects, request and response models) would cost as much again, for
features a webhook must not use anyway.

============================================  ===========  =================================
what happened                                 outcome      why
============================================  ===========  =================================
2xx                                           delivered
408, 429, 5xx (``Retry-After`` honoured)      retry        the target is busy or unwell
timeout, connection refused or reset, DNS     retry        the network may recover
410 Gone                                      gone         the endpoint was removed
3xx                                           failed       redirects are never followed
other 4xx                                     failed       the request itself is wrong
refused by ``allow_networks``                 failed       the spec must change first
============================================  ===========  =================================

Redirects are not followed because a redirect could point a signed request (and its headers)
at another host, or at an address the guard would have refused. Details carry the status and a
short snippet of the response body, with every secret value replaced by ``***``.

``timeout`` bounds connecting and each read; an attempt's
:class:`~doorstep.connectors.deadline.Deadline` bounds the whole of it (a target that answers
one byte at a time is given up on, with ``retry``, when the deadline passes), and cancelling it
shuts the connection down at once.
"""

from __future__ import annotations

import email.utils
import json
import math
import socket
import ssl
import threading
import time
from collections.abc import Iterable, Mapping
from contextvars import ContextVar
from datetime import UTC
from importlib.metadata import PackageNotFoundError, version
from typing import Any

import httpcore
import httpx

from doorstep.connectors.base import Redactor, SendResult, redact
from doorstep.connectors.deadline import Deadline
from doorstep.connectors.net import GuardedBackend
from doorstep.errors import AddressNotAllowedError, ConnectorSpecError

__all__ = [
    "USER_AGENT",
    "JSONPoster",
    "classify_response",
    "encode_json",
    "parse_retry_after",
    "redact",
]


def _version() -> str:
    try:
        return version("doorstep")
    except PackageNotFoundError:  # pragma: no cover - a source tree that was never installed
        return "0.0.0"


USER_AGENT = f"doorstep/{_version()}"
"""Sent with every request, so receivers can tell doorstep's traffic apart."""
SNIPPET_CHARS = 200
"""Characters of a response body kept in a result's detail."""
KEEPALIVE_SECONDS = 5.0
"""An idle connection is closed after this long (httpx's default)."""
_READ_LIMIT = 4096
_ATTEMPT: ContextVar[Deadline | None] = ContextVar("doorstep_http_deadline", default=None)
"""The deadline of the attempt this thread is sending, read by its connection's every step."""


def parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delay seconds or an HTTP date), or
    ``None`` when absent or unreadable. A date in the past means "now" (0)."""
    if value is None or not value.strip():
        return None
    text = value.strip()
    try:
        seconds = float(text)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(text)
        except (TypeError, ValueError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        return max(0.0, when.timestamp() - (time.time() if now is None else now))
    if not math.isfinite(seconds) or seconds < 0:
        return None
    return seconds


def encode_json(payload: Any) -> bytes:
    """The body sent: compact UTF-8 JSON. Raises :class:`ValueError` for values JSON cannot
    carry (NaN, infinities, objects)."""
    try:
        text = json.dumps(payload, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    except TypeError as error:
        raise ValueError(str(error)) from None
    return text.encode("utf-8")


def classify_response(
    status: int, headers: Mapping[str, str], snippet: str, *, now: float | None = None
) -> SendResult:
    """The outcome of one HTTP response (see the table in the module docstring)."""
    detail = f"HTTP {status}: {snippet}" if snippet else f"HTTP {status}"
    if 200 <= status < 300:
        return SendResult("delivered", detail, status)
    if 300 <= status < 400:
        location = headers.get("location")
        where = f" (Location: {_shorten(location)})" if location else ""
        return SendResult(
            "failed",
            f"HTTP {status}: redirects are not followed{where}; set the connector's url to "
            "the final address",
            status,
        )
    if status in (408, 429) or 500 <= status < 600:
        retry_after = parse_retry_after(headers.get("retry-after"), now=now)
        return SendResult("retry", detail, status, retry_after)
    if status == 410:
        return SendResult("gone", detail, status)
    return SendResult("failed", detail, status)


class JSONPoster:
    """POSTs JSON bodies to one URL through the network guard and classifies the answers; safe
    to use from many threads at once (see the module docstring)."""

    def __init__(
        self,
        *,
        connector: str,
        url: str,
        allow_networks: Iterable[str],
        timeout: float,
        secrets: Iterable[str] = (),
        verify: ssl.SSLContext | bool = True,
    ) -> None:
        self.connector = connector
        self.url = _check_url(url, connector)
        self.timeout = timeout
        self.secrets = frozenset(s for s in secrets if s)
        self._redact = Redactor(self.secrets)
        self._backend = _BoundedBackend(allow_networks, connector=connector)
        self._ssl_context = httpx.create_ssl_context(verify=verify, trust_env=True)
        self._target = httpcore.URL(
            scheme=self.url.raw_scheme,
            host=self.url.raw_host,
            port=self.url.port,
            target=self.url.raw_path,
        )
        self._headers = [  # the defaults: a header of the same name given to post() wins
            (b"Host", self.url.netloc),
            (b"User-Agent", USER_AGENT.encode("ascii")),
            (b"Accept", b"*/*"),
            (b"Content-Type", b"application/json"),
        ]
        self._extensions = {
            "timeout": {phase: timeout for phase in ("connect", "read", "write", "pool")}
        }
        self._lock = threading.Lock()
        self._idle: list[httpcore.ConnectionPool] = []
        """Connections not in use, the last used on top. Each is an httpcore pool of one
        connection, so that it reconnects by itself once the target closed it."""
        self._opened: list[httpcore.ConnectionPool] = []
        self._closed = False

    @property
    def origin(self) -> str:
        """Scheme, host and port of the URL: what messages show (paths may hold tokens)."""
        host = f"[{self.url.host}]" if ":" in self.url.host else self.url.host
        port = f":{self.url.port}" if self.url.port is not None else ""
        return f"{self.url.scheme}://{host}{port}"

    def post(
        self, body: bytes, headers: Mapping[str, str], *, deadline: Deadline | None = None
    ) -> SendResult:
        """Send once, by ``deadline`` when given; never raises for what the network or the
        target does."""
        given = {name.lower().encode("ascii") for name in headers}
        request_headers = [(n, v) for n, v in self._headers if n.lower() not in given]
        for name, value in headers.items():
            if not value.isascii():
                return SendResult(
                    "failed",
                    self.redact(f"the header {name} has characters outside ASCII; not sent"),
                )
            request_headers.append((name.encode("ascii"), value.encode("ascii")))
        connection = self._borrow()
        attempt = _ATTEMPT.set(deadline)
        try:
            with connection.stream(
                "POST",
                self._target,
                headers=request_headers,
                content=body,
                extensions=self._extensions,
            ) as response:
                status = response.status
                answer_headers = self._answer_headers(response.headers)
                snippet = _shorten(self.redact(_read_snippet(response)))
        except AddressNotAllowedError as error:
            refused = AddressNotAllowedError(self.connector, self.origin, error.address, error.kind)
            return SendResult("failed", self.redact(refused.message))
        except httpcore.TimeoutException as error:
            if deadline is not None and deadline.expired:
                return deadline.give_up(_phase(error))
            return SendResult("retry", f"timed out after {self.timeout:g} s while {_phase(error)}")
        except (httpcore.NetworkError, httpcore.RemoteProtocolError) as error:
            if deadline is not None and deadline.cancelled:
                return deadline.give_up("waiting for the response")
            reason = str(error) or type(error).__name__
            return SendResult("retry", self.redact(f"connection to {self.origin} failed: {reason}"))
        except (httpcore.LocalProtocolError, httpcore.UnsupportedProtocol) as error:
            reason = str(error) or type(error).__name__
            return SendResult("failed", self.redact(f"request not sent: {reason}"))
        finally:
            _ATTEMPT.reset(attempt)
            self._give_back(connection)
        result = classify_response(status, answer_headers, snippet)
        return SendResult(result.outcome, self.redact(result.detail), status, result.retry_after)

    def redact(self, text: str) -> str:
        """``text`` with this connector's secrets hidden."""
        return self._redact(text)

    def close(self) -> None:
        """Close every connection; later sends raise :class:`RuntimeError`."""
        with self._lock:
            opened, self._opened, self._idle, self._closed = self._opened, [], [], True
        for connection in opened:
            connection.close()

    def _borrow(self) -> httpcore.ConnectionPool:
        with self._lock:
            if self._closed:
                raise RuntimeError(f"connector {self.connector!r} is closed")
            if self._idle:
                return self._idle.pop()
            connection = httpcore.ConnectionPool(
                ssl_context=self._ssl_context,
                max_connections=1,
                keepalive_expiry=KEEPALIVE_SECONDS,
                network_backend=self._backend,
            )
            self._opened.append(connection)
            return connection

    def _give_back(self, connection: httpcore.ConnectionPool) -> None:
        with self._lock:
            if not self._closed:
                self._idle.append(connection)
                return
        connection.close()

    def _answer_headers(self, headers: list[tuple[bytes, bytes]]) -> dict[str, str]:
        """The response headers :func:`classify_response` reads (the first of each)."""
        found: dict[str, str] = {}
        for raw_name, raw_value in headers:
            name = raw_name.decode("latin-1").lower()
            if name in ("location", "retry-after") and name not in found:
                found[name] = self.redact(raw_value.decode("latin-1"))
        return found


class _BoundedBackend(GuardedBackend):
    """:class:`GuardedBackend` whose connections end every step by the current attempt's
    deadline (see :class:`_Bounded`)."""

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:
        deadline = _ATTEMPT.get()
        if deadline is not None:
            if deadline.expired:
                raise httpcore.ConnectTimeout("the attempt's deadline passed")
            timeout = deadline.limit(timeout)
        return _Bounded(super().connect_tcp(host, port, timeout, local_address, socket_options))


class _Bounded(httpcore.NetworkStream):
    """A connection whose reads, writes and TLS handshake each get at most what is left of the
    current attempt's deadline (and raise httpcore's timeout once nothing is), and whose socket
    is shut down when the attempt is cancelled mid-step. Without a deadline it is the stream
    it wraps."""

    def __init__(self, stream: httpcore.NetworkStream) -> None:
        self._stream = stream

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        deadline = _ATTEMPT.get()
        if deadline is None:
            return self._stream.read(max_bytes, timeout)
        if deadline.expired:
            raise httpcore.ReadTimeout("the attempt's deadline passed")
        with deadline.on_cancel(self._shut_down):
            return self._stream.read(max_bytes, deadline.limit(timeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        deadline = _ATTEMPT.get()
        if deadline is None:
            return self._stream.write(buffer, timeout)
        if deadline.expired:
            raise httpcore.WriteTimeout("the attempt's deadline passed")
        with deadline.on_cancel(self._shut_down):
            return self._stream.write(buffer, deadline.limit(timeout))

    def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore.NetworkStream:
        deadline = _ATTEMPT.get()
        if deadline is None:
            return _Bounded(self._stream.start_tls(ssl_context, server_hostname, timeout))
        if deadline.expired:
            raise httpcore.ConnectTimeout("the attempt's deadline passed")
        with deadline.on_cancel(self._shut_down):
            tls = self._stream.start_tls(ssl_context, server_hostname, deadline.limit(timeout))
        return _Bounded(tls)

    def close(self) -> None:
        self._stream.close()

    def get_extra_info(self, info: str) -> Any:
        return self._stream.get_extra_info(info)

    def _shut_down(self) -> None:
        """Wake a step blocked on the socket (from another thread): it sees the connection
        closed. The socket's own ``shutdown`` is used, also under TLS, so that the TLS object
        the blocked step uses is left alone."""
        sock = self._stream.get_extra_info("socket")
        if isinstance(sock, socket.socket):
            socket.socket.shutdown(sock, socket.SHUT_RDWR)


def _check_url(url: str, connector: str) -> httpx.URL:
    try:
        parsed = httpx.URL(url)
    except httpx.InvalidURL as error:
        reason = redact(str(error), [url])
        raise ConnectorSpecError(connector, "url", f"not a valid URL ({reason})") from None
    if parsed.scheme not in ("http", "https"):
        raise ConnectorSpecError(
            connector,
            "url",
            f"expected an https:// or http:// URL; got the scheme {parsed.scheme or 'none'!r}",
        )
    if not parsed.host:
        raise ConnectorSpecError(connector, "url", "the URL has no host name")
    if parsed.port is not None and not 0 < parsed.port < 65536:
        raise ConnectorSpecError(connector, "url", f"the port {parsed.port} is out of range")
    return parsed


def _read_snippet(response: httpcore.Response) -> str:
    data = bytearray()
    try:
        for chunk in response.iter_stream():
            data += chunk
            if len(data) >= _READ_LIMIT:
                break
    except (httpcore.TimeoutException, httpcore.NetworkError, httpcore.ProtocolError):
        pass
    return " ".join(data[:_READ_LIMIT].decode("utf-8", errors="replace").split())


def _shorten(text: str) -> str:
    return text if len(text) <= SNIPPET_CHARS else text[: SNIPPET_CHARS - 1] + "…"


def _phase(error: httpcore.TimeoutException) -> str:
    if isinstance(error, httpcore.ConnectTimeout):
        return "connecting"
    if isinstance(error, httpcore.WriteTimeout):
        return "sending the request"
    if isinstance(error, httpcore.PoolTimeout):
        return "waiting for a free connection"
    return "waiting for the response"
