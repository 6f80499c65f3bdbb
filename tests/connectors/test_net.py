"""The network guard, against real sockets: refusals happen before any connection is made."""

from __future__ import annotations

import socket
import ssl
from collections.abc import Iterator

import httpcore
import httpx
import pytest
import trustme
from tests.connectors.receivers import Receiver

from doorstep.connectors.net import (
    AddrInfo,
    GuardedBackend,
    GuardedTransport,
    WritesOnRead,
    address_kind,
    check_address,
    parse_networks,
)
from doorstep.errors import AddressNotAllowedError, ConnectorSpecError


class StubResolver:
    """A DNS stand-in answering every name with ``addresses`` (the sockets stay real)."""

    def __init__(self, *addresses: str) -> None:
        self.addresses = addresses
        self.calls: list[str] = []

    def __call__(self, host: str, port: int) -> list[AddrInfo]:
        self.calls.append(host)
        return [
            info
            for address in self.addresses
            for info in socket.getaddrinfo(address, port, type=socket.SOCK_STREAM)
        ]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with Receiver() as r:
        yield r


@pytest.mark.parametrize(
    ("address", "kind"),
    [
        ("127.0.0.1", "loopback"),
        ("::1", "loopback"),
        ("10.0.0.5", "private"),
        ("192.168.1.20", "private"),
        ("172.16.0.1", "private"),
        ("169.254.169.254", "link-local"),
        ("fe80::1", "link-local"),
        ("0.0.0.0", "unspecified"),
        ("::", "unspecified"),
        ("224.0.0.1", "multicast"),
        ("ff02::1", "multicast"),
        ("240.0.0.1", "reserved"),
        ("fd00::1", "private"),
        ("100.64.0.1", "non-public"),
        ("::ffff:127.0.0.1", "loopback"),
        ("::ffff:10.0.0.5", "private"),
        ("64:ff9b::a00:5", "private"),
        ("2002:a00:5::", "private"),
    ],
)
def test_non_public_addresses_are_refused_by_default(address: str, kind: str) -> None:
    with pytest.raises(AddressNotAllowedError) as caught:
        check_address(address, 443, [], connector="crm", target=f"https://{address}")
    assert caught.value.kind == kind
    assert caught.value.code == "address_not_allowed"


@pytest.mark.parametrize("address", ["8.8.8.8", "1.1.1.1", "2606:4700:4700::1111"])
def test_public_addresses_pass(address: str) -> None:
    assert address_kind(check_address(address, 443, [])[0].address) is None


def test_the_refusal_names_connector_target_address_and_fix() -> None:
    with pytest.raises(AddressNotAllowedError) as caught:
        check_address(
            "x", 443, [], connector="crm", target="https://x", resolve=StubResolver("10.0.0.5")
        )
    assert str(caught.value) == (
        "connector 'crm': https://x resolves to 10.0.0.5, a private address; "
        "add it to allow_networks to allow it"
    )


def test_every_resolved_address_is_checked() -> None:
    resolve = StubResolver("8.8.8.8", "10.0.0.5")
    with pytest.raises(AddressNotAllowedError, match="10.0.0.5, a private address"):
        check_address("mixed.example", 443, [], resolve=resolve)
    vetted = check_address("mixed.example", 443, ["10.0.0.0/8"], resolve=resolve)
    assert [str(v.address) for v in vetted] == ["8.8.8.8", "10.0.0.5"]


@pytest.mark.parametrize(
    ("allow", "address"),
    [
        (["127.0.0.1/32"], "127.0.0.1"),
        (["127.0.0.1"], "127.0.0.1"),
        (["10.0.0.0/8"], "10.1.2.3"),
        (["::1"], "::1"),
        (["fd00::/8"], "fd12::1"),
        (["127.0.0.0/8"], "::ffff:127.0.0.1"),
    ],
)
def test_allow_networks_let_addresses_through(allow: list[str], address: str) -> None:
    assert check_address(address, 80, allow)


def test_an_allowed_network_does_not_open_the_others() -> None:
    with pytest.raises(AddressNotAllowedError, match="::1, a loopback"):
        check_address("::1", 80, ["127.0.0.1/32"])
    with pytest.raises(AddressNotAllowedError, match="10.0.0.5"):
        check_address("10.0.0.5", 80, ["192.168.0.0/16"])


@pytest.mark.parametrize(
    ("entry", "expected"),
    [
        ("localhost", r"allow_networks\[1\]: .* got 'localhost'"),
        ("10.0.0.1/8", r"host bits set\) \(did you mean 10.0.0.0/8\?\)"),
        ("300.1.2.3", r"got '300.1.2.3'"),
    ],
)
def test_bad_allow_networks_entries_are_named(entry: str, expected: str) -> None:
    with pytest.raises(ConnectorSpecError, match=expected) as caught:
        parse_networks(["10.0.0.0/8", entry], connector="crm")
    assert caught.value.connector == "crm"
    assert caught.value.key == "allow_networks[1]"
    assert str(caught.value).startswith("connector 'crm' allow_networks[1]: ")


def test_an_unresolvable_name_is_an_os_error() -> None:
    with pytest.raises(OSError):
        check_address("no-such-host.invalid", 80, [])


def test_the_transport_refuses_loopback_before_connecting(receiver: Receiver) -> None:
    with httpx.Client(transport=GuardedTransport([], connector="crm")) as client:
        with pytest.raises(AddressNotAllowedError, match="loopback"):
            client.post(receiver.url(), content=b"{}")
        with pytest.raises(AddressNotAllowedError, match="loopback"):
            client.post(receiver.url(host="localhost"), content=b"{}")
    assert receiver.accepts == 0
    assert receiver.requests == []


def test_the_transport_refuses_ipv6_loopback_before_connecting() -> None:
    with Receiver(host="::1") as receiver:
        with httpx.Client(transport=GuardedTransport(["127.0.0.1/32"])) as client:
            with pytest.raises(AddressNotAllowedError, match="::1, a loopback"):
                client.post(receiver.url(), content=b"{}")
        assert receiver.accepts == 0
        with httpx.Client(transport=GuardedTransport(["::1/128"])) as client:
            assert client.post(receiver.url(), content=b"{}").status_code == 200
        assert receiver.accepts == 1


def test_the_transport_connects_when_allowed(receiver: Receiver) -> None:
    with httpx.Client(transport=GuardedTransport(["127.0.0.1/32"])) as client:
        assert client.post(receiver.url(), content=b"{}").status_code == 200
        assert client.post(receiver.url(), content=b"{}").status_code == 200
    assert len(receiver.requests) == 2
    assert receiver.accepts == 1, "keep-alive: one connection, vetted once"


def test_the_socket_goes_to_the_vetted_address_not_to_a_new_lookup(receiver: Receiver) -> None:
    """The name below resolves nowhere but through the guard's resolver: had anything looked it
    up again when connecting (the DNS-rebinding gap), the request could not have arrived."""
    resolve = StubResolver("127.0.0.1")
    transport = GuardedTransport(["127.0.0.1/32"], resolve=resolve)
    with httpx.Client(transport=transport) as client:
        response = client.post(receiver.url(host="rebind.invalid"), content=b"{}")
    assert response.status_code == 200
    assert resolve.calls == ["rebind.invalid"]
    assert receiver.requests[0].headers["host"] == f"rebind.invalid:{receiver.port}"


def test_a_refused_resolution_never_connects(receiver: Receiver) -> None:
    resolve = StubResolver("127.0.0.1")
    with httpx.Client(transport=GuardedTransport([], resolve=resolve)) as client:
        with pytest.raises(AddressNotAllowedError, match="rebind.invalid"):
            client.post(receiver.url(host="rebind.invalid"), content=b"{}")
    assert receiver.accepts == 0


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


def _tls_server(ca: trustme.CA, name: str) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert(name).configure_cert(context)
    return context


def _tls_client(ca: trustme.CA) -> ssl.SSLContext:
    context = ssl.create_default_context()
    ca.configure_trust(context)
    return context


def test_tls_checks_the_url_host_name_not_the_vetted_address(ca: trustme.CA) -> None:
    """The certificate names only ``hooks.test``; connecting to 127.0.0.1 still verifies it and
    sends SNI ``hooks.test``, because TLS runs on the origin's host name."""
    with Receiver(tls=_tls_server(ca, "hooks.test")) as receiver:
        transport = GuardedTransport(
            ["127.0.0.1/32"], verify=_tls_client(ca), resolve=StubResolver("127.0.0.1")
        )
        with httpx.Client(transport=transport) as client:
            response = client.post(receiver.url(host="hooks.test"), content=b"{}")
        assert response.status_code == 200
        assert receiver.server_names == ["hooks.test"]


def test_tls_refuses_a_certificate_for_another_name(ca: trustme.CA) -> None:
    with Receiver(tls=_tls_server(ca, "other.test")) as receiver:
        transport = GuardedTransport(
            ["127.0.0.1/32"], verify=_tls_client(ca), resolve=StubResolver("127.0.0.1")
        )
        with httpx.Client(transport=transport) as client:
            with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
                client.post(receiver.url(host="hooks.test"), content=b"{}")
        assert receiver.requests == []


class RecordingStream(httpcore.NetworkStream):
    """The calls a connection gets."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, object]] = []

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self.calls.append(("write", buffer))

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        self.calls.append(("read", max_bytes))
        return b"HTTP/1.1 204 No Content\r\n\r\n"

    def close(self) -> None:
        self.calls.append(("close", None))

    def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore.NetworkStream:
        self.calls.append(("start_tls", server_hostname))
        return RecordingStream()


def test_a_request_head_and_body_are_written_together_before_the_answer_is_read() -> None:
    raw = RecordingStream()
    stream = WritesOnRead(raw)
    stream.write(b"POST /hook HTTP/1.1\r\nContent-Length: 2\r\n\r\n")
    stream.write(b"{}")
    assert raw.calls == []
    assert stream.read(4096).startswith(b"HTTP/1.1 204")
    assert raw.calls == [
        ("write", b"POST /hook HTTP/1.1\r\nContent-Length: 2\r\n\r\n{}"),
        ("read", 4096),
    ]
    stream.read(4096)  # nothing left to write
    assert raw.calls[-1] == ("read", 4096) and len(raw.calls) == 3
    stream.write(b"abandoned")
    stream.close()
    assert raw.calls[-1:] == [("close", None)]  # raw.calls[-1] stays narrowed by the assert above


def test_tls_starts_after_what_was_written_and_its_stream_also_waits_for_reads() -> None:
    raw = RecordingStream()
    stream = WritesOnRead(raw)
    stream.write(b"early")
    tls = stream.start_tls(ssl.create_default_context(), "hooks.test")
    assert raw.calls == [("write", b"early"), ("start_tls", "hooks.test")]
    assert isinstance(tls, WritesOnRead)


def test_guarded_connections_write_on_read_against_a_real_receiver() -> None:
    with Receiver() as receiver:
        backend = GuardedBackend(["127.0.0.1/32"])
        stream = backend.connect_tcp("127.0.0.1", receiver.port, timeout=5)
        try:
            assert isinstance(stream, WritesOnRead)
            stream.write(b"POST /hook HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n", 5)
            stream.write(b"{}", 5)
            answer = stream.read(4096, 5)
        finally:
            stream.close()
        assert answer.startswith(b"HTTP/1.1 200")
        assert [(r.path, r.body) for r in receiver.requests] == [("/hook", b"{}")]
