"""The webhook connector against a real local receiver that verifies Standard Webhooks
signatures with the ``standardwebhooks`` package."""

from __future__ import annotations

import base64
import email.utils
import json
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import trustme
from tests.connectors.conftest import DeliveryFactory
from tests.connectors.receivers import Receiver, Reply

from doorstep import __version__
from doorstep.connectors.base import Connector, ConnectorContext, ConnectorFactory
from doorstep.connectors.deadline import Deadline
from doorstep.connectors.webhook import WebhookConnector
from doorstep.core.spec.models import ChatConnectorSpec, WebhookConnectorSpec
from doorstep.errors import ConnectorSpecError

OLD_SECRET = "whsec_" + base64.b64encode(b"old-secret-of-thirty-two-bytes!!").decode()
NEW_SECRET = "whsec_" + base64.b64encode(b"new-secret-of-thirty-two-bytes!!").decode()
TOKEN = "hubspot-token-5f2c9a"
LOOPBACK = ["127.0.0.1/32"]

Make = Callable[..., WebhookConnector]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with Receiver(secrets=[OLD_SECRET, NEW_SECRET]) as r:
        yield r


@pytest.fixture
def make() -> Iterator[Make]:
    """Build connectors (closed after the test) from spec keys; loopback allowed by default."""
    made: list[WebhookConnector] = []

    def build(url: str, *, clock: Callable[[], float] = time.time, **keys: Any) -> WebhookConnector:
        keys.setdefault("allow_networks", LOOPBACK)
        spec = WebhookConnectorSpec(type="webhook", url=url, **keys)
        context = ConnectorContext("crm", Path("."), frozenset({TOKEN}))
        connector = WebhookConnector(spec, context, clock=clock)
        made.append(connector)
        return connector

    yield build
    for connector in made:
        connector.close()


def test_it_is_a_connector_factory() -> None:
    assert isinstance(WebhookConnector, ConnectorFactory)
    assert WebhookConnector.type == "webhook"
    spec = WebhookConnectorSpec(type="webhook", url="https://crm.example.com/hooks")
    connector = WebhookConnector.from_spec(spec, ConnectorContext("crm", Path(".")))
    assert isinstance(connector, Connector)
    connector.close()


def test_from_spec_takes_only_its_own_spec() -> None:
    spec = ChatConnectorSpec(type="chat", url="https://hooks.slack.com/services/T/B/X")
    with pytest.raises(TypeError, match="WebhookConnectorSpec"):
        WebhookConnector.from_spec(spec, ConnectorContext("crm", Path(".")))


def test_a_signed_json_post_arrives_and_verifies(
    receiver: Receiver, make: Make, delivery: DeliveryFactory
) -> None:
    connector = make(receiver.url(), secret=OLD_SECRET)
    sent = delivery()
    result = connector.send(sent)
    assert (result.outcome, result.status) == ("delivered", 200)
    [request] = receiver.requests
    assert request.method == "POST"
    assert request.json() == sent.payload
    assert request.verified_with == (OLD_SECRET,)
    assert request.headers["webhook-id"] == sent.key
    assert abs(int(request.headers["webhook-timestamp"]) - time.time()) < 5
    assert request.headers["content-type"] == "application/json"
    assert request.headers["user-agent"] == f"doorstep/{__version__}"


def test_without_a_secret_requests_carry_id_and_timestamp_but_no_signature(
    receiver: Receiver, make: Make, delivery: DeliveryFactory
) -> None:
    assert make(receiver.url()).send(delivery()).outcome == "delivered"
    [request] = receiver.requests
    assert "webhook-signature" not in request.headers
    assert request.headers["webhook-id"]
    assert request.verified_with == ()


@pytest.mark.parametrize("known", [OLD_SECRET, NEW_SECRET], ids=["old", "new"])
def test_during_a_rotation_a_receiver_with_either_secret_verifies(
    known: str, make: Make, delivery: DeliveryFactory
) -> None:
    with Receiver(secrets=[known]) as receiver:
        result = make(receiver.url(), secret=[NEW_SECRET, OLD_SECRET]).send(delivery())
    assert result.outcome == "delivered"
    [request] = receiver.requests
    assert request.verified_with == (known,)
    assert [s.split(",")[0] for s in request.headers["webhook-signature"].split(" ")] == [
        "v1",
        "v1",
    ]


def test_each_attempt_has_a_fresh_timestamp_and_the_same_id(
    receiver: Receiver, make: Make, delivery: DeliveryFactory
) -> None:
    now = time.time()
    ticks = iter([now - 90, now])
    receiver.script("/hook", Reply(503), Reply(200))
    connector = make(receiver.url(), secret=NEW_SECRET, clock=lambda: next(ticks))
    first = delivery()
    assert connector.send(first).outcome == "retry"
    assert connector.send(delivery(key=first.key, attempt=2)).outcome == "delivered"
    one, two = receiver.requests
    assert one.headers["webhook-id"] == two.headers["webhook-id"] == first.key
    assert int(two.headers["webhook-timestamp"]) - int(one.headers["webhook-timestamp"]) == 90
    assert one.verified_with == two.verified_with == (NEW_SECRET,)
    assert one.headers["webhook-signature"] != two.headers["webhook-signature"]


def test_header_templates_are_rendered(
    receiver: Receiver, make: Make, delivery: DeliveryFactory
) -> None:
    headers = {"Authorization": f"Bearer {TOKEN}", "X-Entity": "{{ entity_id }}/{{ action }}"}
    assert make(receiver.url(), headers=headers).send(delivery()).outcome == "delivered"
    [request] = receiver.requests
    assert request.headers["authorization"] == f"Bearer {TOKEN}"
    assert request.headers["x-entity"] == "C-1042/retention_offer"


def test_content_type_and_user_agent_can_be_overridden_once(
    make: Make, delivery: DeliveryFactory
) -> None:
    """The raw request: a header given in the spec replaces doorstep's, never joins it."""
    heads: list[bytes] = []
    with socket.create_server(("127.0.0.1", 0)) as server:

        def answer() -> None:
            conn, _ = server.accept()
            with conn:
                data = b""
                while b"\r\n\r\n" not in data:
                    data += conn.recv(65536)
                heads.append(data.split(b"\r\n\r\n")[0])
                conn.sendall(b"HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n")

        thread = threading.Thread(target=answer)
        thread.start()
        headers = {"content-type": "application/cloudevents+json", "User-Agent": "crm-bridge"}
        port = server.getsockname()[1]
        result = make(f"http://127.0.0.1:{port}/hook", headers=headers).send(delivery())
        thread.join(timeout=10)
    assert result.outcome == "delivered"
    (head,) = heads
    lines = [line.lower() for line in head.split(b"\r\n")[1:]]
    assert [n for n in lines if n.startswith(b"content-type:")] == [
        b"content-type: application/cloudevents+json"
    ]
    assert [n for n in lines if n.startswith(b"user-agent:")] == [b"user-agent: crm-bridge"]
    assert sum(n.startswith(b"host:") for n in lines) == 1


def test_a_broken_header_template_fails_naming_it(
    receiver: Receiver, make: Make, delivery: DeliveryFactory
) -> None:
    result = make(receiver.url(), headers={"X-Owner": "{{ owner }}"}).send(delivery())
    assert result.outcome == "failed"
    assert "connectors.crm.headers.X-Owner" in result.detail
    assert receiver.requests == []


def test_a_header_value_with_a_line_break_is_refused(
    receiver: Receiver, make: Make, delivery: DeliveryFactory
) -> None:
    connector = make(receiver.url(), headers={"X-Entity": "{{ entity_id }}"})
    result = connector.send(delivery(context={"entity_id": "C-1\r\nX-Injected: 1"}))
    assert result.outcome == "failed"
    assert "line break" in result.detail
    assert receiver.requests == []


def test_a_header_value_outside_ascii_fails_naming_the_header(
    receiver: Receiver, make: Make, delivery: DeliveryFactory
) -> None:
    connector = make(receiver.url(), headers={"X-Entity": "{{ entity_id }}"})
    result = connector.send(delivery(context={"entity_id": "Zoë"}))
    assert result.outcome == "failed"
    assert result.detail == "the header X-Entity has characters outside ASCII; not sent"
    assert receiver.requests == []


def test_a_payload_json_cannot_carry_fails(
    receiver: Receiver, make: Make, delivery: DeliveryFactory
) -> None:
    result = make(receiver.url()).send(delivery(payload={"score": float("nan")}))
    assert result.outcome == "failed"
    assert result.detail.startswith("payload is not JSON")


def test_redirects_are_not_followed(
    receiver: Receiver, make: Make, delivery: DeliveryFactory
) -> None:
    receiver.script("/hook", Reply(302, headers={"Location": "/elsewhere"}))
    result = make(receiver.url(), secret=OLD_SECRET).send(delivery())
    assert (result.outcome, result.status) == ("failed", 302)
    assert "redirects are not followed" in result.detail
    assert "/elsewhere" in result.detail
    assert receiver.requests_to("/elsewhere") == []


@pytest.mark.parametrize(
    ("reply", "outcome"),
    [
        (Reply(200), "delivered"),
        (Reply(202), "delivered"),
        (Reply(204), "delivered"),
        (Reply(400, b'{"error": "missing field email"}'), "failed"),
        (Reply(401), "failed"),
        (Reply(404), "failed"),
        (Reply(408), "retry"),
        (Reply(410), "gone"),
        (Reply(422), "failed"),
        (Reply(429), "retry"),
        (Reply(500), "retry"),
        (Reply(502), "retry"),
        (Reply(503), "retry"),
    ],
)
def test_status_codes_map_to_outcomes(
    reply: Reply, outcome: str, receiver: Receiver, make: Make, delivery: DeliveryFactory
) -> None:
    receiver.script("/hook", reply)
    result = make(receiver.url()).send(delivery())
    assert (result.outcome, result.status) == (outcome, reply.status)
    assert result.detail.startswith(f"HTTP {reply.status}")


def test_details_show_a_short_snippet_of_the_answer(
    receiver: Receiver, make: Make, delivery: DeliveryFactory
) -> None:
    receiver.script("/hook", Reply(400, b'{"error":\n  "missing field email"}' + b"x" * 5000))
    result = make(receiver.url()).send(delivery())
    assert result.detail.startswith('HTTP 400: {"error": "missing field email"}xxx')
    assert len(result.detail) < 300


@pytest.mark.parametrize(
    ("header", "expected"),
    [("7", 7.0), ("0", 0.0), ("1.5", 1.5), ("soon", None), ("-3", None)],
)
def test_retry_after_seconds_are_honoured(
    header: str,
    expected: float | None,
    receiver: Receiver,
    make: Make,
    delivery: DeliveryFactory,
) -> None:
    receiver.script("/hook", Reply(429, headers={"Retry-After": header}))
    result = make(receiver.url()).send(delivery())
    assert (result.outcome, result.retry_after) == ("retry", expected)


def test_retry_after_as_an_http_date(
    receiver: Receiver, make: Make, delivery: DeliveryFactory
) -> None:
    when = email.utils.formatdate(time.time() + 120, usegmt=True)
    receiver.script("/hook", Reply(503, headers={"Retry-After": when}))
    result = make(receiver.url()).send(delivery())
    assert result.outcome == "retry"
    assert result.retry_after is not None and 115 <= result.retry_after <= 121


def test_secrets_never_appear_in_details(
    receiver: Receiver, make: Make, delivery: DeliveryFactory
) -> None:
    echo = json.dumps({"got": [TOKEN, OLD_SECRET, OLD_SECRET[6:]]}).encode()
    receiver.script("/hook", Reply(500, echo), Reply(301, headers={"Location": f"/x?t={TOKEN}"}))
    connector = make(receiver.url(), secret=OLD_SECRET, headers={"Authorization": TOKEN})
    details = [connector.send(delivery()).detail for _ in range(2)]
    for detail in details:
        assert TOKEN not in detail
        assert OLD_SECRET[6:] not in detail
        assert "***" in detail


def test_a_slow_receiver_is_retried(
    receiver: Receiver, make: Make, delivery: DeliveryFactory
) -> None:
    receiver.script("/hook", Reply(200, delay=5))
    started = time.monotonic()
    result = make(receiver.url(), timeout=0.3).send(delivery())
    assert time.monotonic() - started < 2
    assert result.outcome == "retry"
    assert result.detail == "timed out after 0.3 s while waiting for the response"


def test_a_receiver_that_answers_a_byte_at_a_time_is_given_up_on_at_the_deadline(
    receiver: Receiver, make: Make, delivery: DeliveryFactory
) -> None:
    receiver.script("/hook", Reply(200, b"." * 100, trickle=0.1))  # each read well within 1 s
    started = time.monotonic()
    result = make(receiver.url(), timeout=1).send(delivery(deadline=Deadline(1.2)))
    took = time.monotonic() - started
    assert 1.2 <= took < 2.0, took
    assert (result.outcome, result.status) == ("retry", None)
    assert result.detail == (
        "gave up after 1.2 s while waiting for the response: an attempt ends before its lease does"
    )
    assert receiver.webhook_ids("/hook") == {delivery().key: 1}


@pytest.mark.parametrize("reply", [Reply(200, delay=30), Reply(200, b"." * 100, trickle=0.1)])
def test_a_cancelled_attempt_ends_at_once_and_the_next_send_reconnects(
    receiver: Receiver, make: Make, delivery: DeliveryFactory, reply: Reply
) -> None:
    receiver.script("/hook", reply, Reply(200))
    connector = make(receiver.url(), timeout=10)
    deadline = Deadline(60)
    threading.Timer(0.5, deadline.cancel).start()
    started = time.monotonic()
    result = connector.send(delivery(deadline=deadline))
    assert time.monotonic() - started < 1.5
    assert result.outcome == "retry"
    assert result.detail == "not finished: the worker stopped while waiting for the response"
    assert connector.send(delivery(deadline=Deadline(10))).outcome == "delivered"
    assert receiver.accepts == 2


def test_a_closed_port_is_retried(make: Make, delivery: DeliveryFactory) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    result = make(f"http://127.0.0.1:{port}/hook").send(delivery())
    assert result.outcome == "retry"
    assert result.detail.startswith(f"connection to http://127.0.0.1:{port} failed")


def test_a_name_that_does_not_resolve_is_retried(make: Make, delivery: DeliveryFactory) -> None:
    result = make("https://no-such-host.invalid/hook").send(delivery())
    assert result.outcome == "retry"
    assert result.detail.startswith("connection to https://no-such-host.invalid failed")


def test_loopback_is_refused_without_allow_networks(
    receiver: Receiver, make: Make, delivery: DeliveryFactory
) -> None:
    result = make(receiver.url(), allow_networks=[]).send(delivery())
    assert result.outcome == "failed"
    assert result.detail == (
        f"connector 'crm': http://127.0.0.1:{receiver.port} resolves to 127.0.0.1, "
        "a loopback address; add it to allow_networks to allow it"
    )
    assert receiver.accepts == 0
    assert make(receiver.url(), allow_networks=LOOPBACK).send(delivery()).outcome == "delivered"


def test_ipv6_loopback_is_refused_too(make: Make, delivery: DeliveryFactory) -> None:
    with Receiver(host="::1") as receiver:
        refused = make(receiver.url(), allow_networks=LOOPBACK).send(delivery())
        assert refused.outcome == "failed"
        assert f"http://[::1]:{receiver.port} resolves to ::1, a loopback" in refused.detail
        assert receiver.accepts == 0
        allowed = make(receiver.url(), allow_networks=["::1"]).send(delivery())
        assert allowed.outcome == "delivered"


def test_concurrent_sends_share_one_client(
    receiver: Receiver, make: Make, delivery: DeliveryFactory
) -> None:
    connector = make(receiver.url(), secret=NEW_SECRET)
    results: list[str] = []
    threads = [
        threading.Thread(target=lambda: results.append(connector.send(delivery()).outcome))
        for _ in range(16)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == ["delivered"] * 16
    assert len(receiver.requests) == 16
    assert all(r.verified_with == (NEW_SECRET,) for r in receiver.requests)


def test_sends_one_after_another_reuse_one_connection(
    receiver: Receiver, make: Make, delivery: DeliveryFactory
) -> None:
    connector = make(receiver.url(), secret=NEW_SECRET)
    assert [connector.send(delivery()).outcome for _ in range(5)] == ["delivered"] * 5
    assert receiver.accepts == 1


def test_connections_of_concurrent_sends_are_kept_for_the_next_ones(
    receiver: Receiver, make: Make, delivery: DeliveryFactory
) -> None:
    connector = make(receiver.url())
    for _ in range(3):
        with ThreadPoolExecutor(8) as pool:
            outcomes = list(pool.map(lambda _: connector.send(delivery()).outcome, range(8)))
        assert outcomes == ["delivered"] * 8
    assert len(receiver.requests) == 24
    assert receiver.accepts <= 8


def test_a_connection_the_target_closed_is_replaced(
    receiver: Receiver, make: Make, delivery: DeliveryFactory
) -> None:
    receiver.script("/hook", Reply(200, headers={"Connection": "close"}), Reply(204))
    connector = make(receiver.url())
    assert [connector.send(delivery()).outcome for _ in range(3)] == ["delivered"] * 3
    assert receiver.accepts == 2


def test_a_closed_connector_sends_nothing(
    receiver: Receiver, make: Make, delivery: DeliveryFactory
) -> None:
    connector = make(receiver.url())
    assert connector.send(delivery()).outcome == "delivered"
    connector.close()
    with pytest.raises(RuntimeError, match="connector 'crm' is closed"):
        connector.send(delivery())
    assert len(receiver.requests) == 1


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


def _tls_receiver(ca: trustme.CA, name: str) -> Receiver:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert(name).configure_cert(context)
    return Receiver(tls=context, secrets=[NEW_SECRET])


def _tls_connector(ca: trustme.CA, url: str) -> WebhookConnector:
    trust = ssl.create_default_context()
    ca.configure_trust(trust)
    spec = WebhookConnectorSpec(
        type="webhook", url=url, secret=NEW_SECRET, allow_networks=["127.0.0.1/32", "::1/128"]
    )
    return WebhookConnector(spec, ConnectorContext("crm", Path(".")), verify=trust)


def test_https_verifies_the_certificate_for_the_url_host_name(
    ca: trustme.CA, delivery: DeliveryFactory
) -> None:
    with _tls_receiver(ca, "localhost") as receiver:
        connector = _tls_connector(ca, receiver.url(host="localhost"))
        try:
            assert connector.send(delivery()).outcome == "delivered"
            assert connector.send(delivery()).outcome == "delivered"
        finally:
            connector.close()
        assert receiver.server_names == ["localhost"]  # one handshake, then kept alive
        assert [r.verified_with for r in receiver.requests] == [(NEW_SECRET,)] * 2


def test_https_refuses_a_certificate_for_another_name(
    ca: trustme.CA, delivery: DeliveryFactory
) -> None:
    with _tls_receiver(ca, "other.test") as receiver:
        connector = _tls_connector(ca, receiver.url(host="localhost"))
        try:
            result = connector.send(delivery())
        finally:
            connector.close()
        assert result.outcome == "retry"
        assert "CERTIFICATE_VERIFY_FAILED" in result.detail
        assert receiver.requests == []


@pytest.mark.parametrize(
    ("keys", "message"),
    [
        ({"secret": "s3cr3t-value"}, "connector 'crm' secret: .*does not start with 'whsec_'"),
        ({"secret": "whsec_***not-base64***"}, "connector 'crm' secret: .*not valid base64"),
        ({"secret": "whsec_" + base64.b64encode(b"short").decode()}, "5 bytes, fewer than 16"),
        ({"secret": [NEW_SECRET, "whsec_!!"]}, r"connector 'crm' secret\[1\]: "),
        ({"secret": []}, "an empty list"),
        ({"allow_networks": ["intranet"]}, r"allow_networks\[0\]: .*'intranet'"),
        ({"url": "ftp://files.example.com/in"}, "url: expected an https:// or http:// URL"),
        ({"url": "/relative/path"}, "url: "),
        ({"url": "https://crm.example.com:99999/in"}, "url: the port 99999 is out of range"),
        ({"url": "http://\x00/in"}, "url: not a valid URL"),
        ({"headers": {"Bad Header": "x"}}, "headers.Bad Header: not a valid HTTP header name"),
        ({"headers": {"Webhook-Signature": "x"}}, "doorstep sets Webhook-Signature itself"),
    ],
)
def test_bad_specs_are_refused_naming_the_key_not_the_secret(
    keys: dict[str, Any], message: str
) -> None:
    keys.setdefault("url", "https://crm.example.com/hooks")
    spec = WebhookConnectorSpec(type="webhook", **keys)
    with pytest.raises(ConnectorSpecError, match=message) as caught:
        WebhookConnector.from_spec(spec, ConnectorContext("crm", Path(".")))
    assert caught.value.connector == "crm"
    secret = keys.get("secret")
    if isinstance(secret, str):
        assert secret[6:] not in str(caught.value)
