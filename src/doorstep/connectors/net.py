"""The network guard: connectors reach public addresses only, unless a spec allow-lists more.

A spec that names ``http://169.254.169.254/`` or a host name that resolves to ``10.0.0.5`` must
not turn doorstep into a way to reach the cloud metadata service or the office network
(server-side request forgery). So every address a host name resolves to is checked *when
connecting*, and the socket is opened to the very address that was checked: a DNS answer that
changes between the check and the connection (DNS rebinding) cannot slip past.

Refused, unless inside the connector's ``allow_networks``: private, loopback, link-local,
unspecified, multicast, reserved and other non-public addresses, including IPv4 addresses
embedded in IPv6 ones (``::ffff:127.0.0.1``, 6to4, Teredo, NAT64 ``64:ff9b::/96``).

HTTP connectors connect through :class:`GuardedBackend`, an httpcore network backend (the
webhook and chat connectors' :class:`~doorstep.connectors.http.JSONPoster` uses it directly; an
:class:`httpx.Client` can use it through :class:`GuardedTransport`); TLS still verifies the
certificate against, and sends SNI for, the URL's host name, because httpcore wraps the connected
socket with the origin's host.
Other connectors (SMTP, SQL) call :func:`check_address` and connect to an address it returns.
"""

from __future__ import annotations

import ipaddress
import socket
import ssl
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import httpcore
import httpx

from doorstep.errors import AddressNotAllowedError, ConnectorSpecError

__all__ = [
    "AddrInfo",
    "AddressNotAllowedError",
    "ConnectorSpecError",
    "GuardedBackend",
    "GuardedTransport",
    "Network",
    "ResolvedAddress",
    "Resolver",
    "WritesOnRead",
    "address_kind",
    "check_address",
    "parse_networks",
]

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network
AddrInfo = tuple[int, int, int, str, tuple[Any, ...]]
Resolver = Callable[[str, int], Sequence[AddrInfo]]
"""Resolves ``(host, port)`` to ``socket.getaddrinfo`` tuples (replaceable in tests)."""

_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")


@dataclass(frozen=True)
class ResolvedAddress:
    """One vetted address of a host: connect to ``sockaddr`` (never resolve the name again)."""

    address: IPAddress
    family: int
    sockaddr: tuple[Any, ...]

    @property
    def host(self) -> str:
        """The address as a host string for a socket or client library (IPv6 scope kept)."""
        scope = self.sockaddr[3] if self.family == socket.AF_INET6 else 0
        return f"{self.address}%{scope}" if scope else str(self.address)


def parse_networks(entries: Iterable[str | Network], *, connector: str = "") -> tuple[Network, ...]:
    """Parse ``allow_networks`` (CIDRs or single addresses); the error names the bad entry."""
    networks: list[Network] = []
    for index, entry in enumerate(entries):
        if isinstance(entry, ipaddress.IPv4Network | ipaddress.IPv6Network):
            networks.append(entry)
            continue
        text = entry.strip()
        try:
            networks.append(ipaddress.ip_network(text, strict=True))
        except ValueError as error:
            try:
                hint = f" (did you mean {ipaddress.ip_network(text, strict=False)}?)"
            except ValueError:
                hint = ""
            raise ConnectorSpecError(
                connector,
                f"allow_networks[{index}]",
                f"expected a network such as 10.0.0.0/8 or a single address such as 10.0.0.7; "
                f"got {entry!r} ({error}){hint}",
            ) from None
    return tuple(networks)


def address_kind(address: IPAddress) -> str | None:
    """Why ``address`` is refused by default (``"private"``, ``"loopback"``, ...), or ``None``
    for a public address."""
    for candidate in (*_embedded_ipv4(address), address):
        kind = _kind(candidate)
        if kind is not None:
            return kind
    return None


def check_address(
    host: str,
    port: int,
    allow: Iterable[str | Network],
    *,
    connector: str = "",
    target: str | None = None,
    resolve: Resolver | None = None,
) -> list[ResolvedAddress]:
    """Resolve ``host`` and return its addresses if *every one* may be reached.

    Raises :class:`AddressNotAllowedError` naming the first refused address (``target`` names
    what was asked for in the message; ``host:port`` by default) and :class:`OSError` when the
    name does not resolve. Connect to a returned address, not to ``host``, so that the name is
    not resolved a second time.
    """
    networks = parse_networks(allow, connector=connector)
    infos = (resolve or _getaddrinfo)(host, port)
    vetted: list[ResolvedAddress] = []
    for family, _type, _proto, _name, sockaddr in infos:
        text = str(sockaddr[0]).split("%", 1)[0]
        address = ipaddress.ip_address(text)
        kind = address_kind(address)
        if kind is not None and not _allowed(address, networks):
            raise AddressNotAllowedError(connector, target or f"{host}:{port}", text, kind)
        if all(v.sockaddr != sockaddr for v in vetted):
            vetted.append(ResolvedAddress(address, family, tuple(sockaddr)))
    if not vetted:
        raise OSError(f"{host} did not resolve to any address")
    return vetted


class GuardedBackend(httpcore.SyncBackend):
    """httpcore backend that vets every resolved address, then connects to a vetted one; its
    connections send each request in one piece (see :class:`WritesOnRead`)."""

    def __init__(
        self,
        allow: Iterable[str | Network] = (),
        *,
        connector: str = "",
        resolve: Resolver | None = None,
    ) -> None:
        self.allow = parse_networks(allow, connector=connector)
        self.connector = connector
        self.resolve = resolve

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:
        try:
            vetted = check_address(
                host, port, self.allow, connector=self.connector, resolve=self.resolve
            )
        except OSError as error:
            raise httpcore.ConnectError(f"{host}: {error}") from error
        options = list(socket_options or ())
        last: Exception | None = None
        for address in vetted:
            try:
                stream = super().connect_tcp(address.host, port, timeout, local_address, options)
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as error:
                last = error
            else:
                return WritesOnRead(stream)
        assert last is not None
        raise last


class WritesOnRead(httpcore.NetworkStream):
    """A connection whose writes wait for its next read (or TLS handshake).

    httpcore writes a request's head and its body one after the other, then reads the answer:
    held until that read, both leave in one packet, with one system call instead of two (and,
    on the receiving side, one wake-up). The data is sent with the read's timeout.
    """

    def __init__(self, stream: httpcore.NetworkStream) -> None:
        self._stream = stream
        self._pending = bytearray()

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._pending += buffer

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        self._flush(timeout)
        return self._stream.read(max_bytes, timeout)

    def close(self) -> None:
        self._pending.clear()
        self._stream.close()

    def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore.NetworkStream:
        self._flush(timeout)
        return WritesOnRead(self._stream.start_tls(ssl_context, server_hostname, timeout))

    def get_extra_info(self, info: str) -> Any:
        return self._stream.get_extra_info(info)

    def _flush(self, timeout: float | None) -> None:
        if self._pending:
            data = bytes(self._pending)
            self._pending.clear()
            self._stream.write(data, timeout)


class GuardedTransport(httpx.HTTPTransport):
    """:class:`httpx.HTTPTransport` whose connections go through :class:`GuardedBackend`.

    httpx offers no public way to hand its transport a network backend, so the transport's
    connection pool is rebuilt with one; everything else (request mapping, exception mapping,
    TLS) is httpx's own. Certificates are checked against certifi's authorities, or those of
    ``SSL_CERT_FILE`` / ``SSL_CERT_DIR`` when set (a company CA). Proxies are not supported: a
    proxy would connect past the guard.
    """

    def __init__(
        self,
        allow: Iterable[str | Network] = (),
        *,
        connector: str = "",
        verify: ssl.SSLContext | bool = True,
        limits: httpx.Limits | None = None,
        resolve: Resolver | None = None,
    ) -> None:
        limits = limits or httpx.Limits(max_connections=100, max_keepalive_connections=20)
        ssl_context = httpx.create_ssl_context(verify=verify, trust_env=True)
        backend = GuardedBackend(allow, connector=connector, resolve=resolve)
        super().__init__(verify=ssl_context, limits=limits, trust_env=False)
        self._pool = httpcore.ConnectionPool(
            ssl_context=ssl_context,
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            network_backend=backend,
        )


def _getaddrinfo(host: str, port: int) -> Sequence[AddrInfo]:
    return socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)


def _allowed(address: IPAddress, networks: Sequence[Network]) -> bool:
    candidates = (address, *_embedded_ipv4(address))
    return any(c.version == n.version and c in n for c in candidates for n in networks)


def _embedded_ipv4(address: IPAddress) -> list[ipaddress.IPv4Address]:
    if not isinstance(address, ipaddress.IPv6Address):
        return []
    embedded = [address.ipv4_mapped, address.sixtofour]
    if address.teredo is not None:
        embedded.extend(address.teredo)
    if address in _NAT64:
        embedded.append(ipaddress.IPv4Address(int(address) & 0xFFFFFFFF))
    return [a for a in embedded if a is not None]


def _kind(address: IPAddress) -> str | None:
    checks = (
        ("unspecified", address.is_unspecified),
        ("loopback", address.is_loopback),
        ("link-local", address.is_link_local),
        ("multicast", address.is_multicast),
        ("reserved", address.is_reserved),
        ("private", address.is_private),
    )
    for kind, refused in checks:
        if refused:
            return kind
    return None if address.is_global else "non-public"
