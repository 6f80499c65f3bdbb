"""The bus connectors (RabbitMQ, NATS JetStream, Redis Streams, MQTT) against the real brokers
on 127.0.0.1: the conformance suite; a real decision's action through the dispatcher, read back
by a consumer exactly once, also after a forced retry; a broker that is down, then back; a
broker that takes a message and never answers; secrets kept out of details."""

from __future__ import annotations

import json
import logging
import socket
import time
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from tests.connectors.bus_brokers import BROKERS, Proxy
from tests.connectors.bus_readers import KINDS, RabbitMQReader, Reader, open_reader
from tests.store.factories import decision

from doorstep.connectors.base import ConnectorContext, Message, SendResult
from doorstep.connectors.deadline import Deadline
from doorstep.core.spec.loader import SpecDocument, parse_spec
from doorstep.plugins import connector_factory
from doorstep.services.deliver.actions import deliveries_for
from doorstep.services.deliver.connectors import AppConnectors, SpecFile, open_app_connectors
from doorstep.services.deliver.dispatcher import Dispatcher
from doorstep.store import RecordRequest, Store
from doorstep.testing import check_connector
from doorstep.testing.connectors import sample_delivery

pytestmark = pytest.mark.services

DEDUPED_BY_BROKER = {"nats", "redis"}
"""Buses that drop a resend themselves; on the others consumers dedupe by the delivery id."""
SPEC = """
app: {name: churn, owner: maria@example.com}
model: {path: model.txt}
inputs:
  id: customer_id
  fields:
    tenure_months: {type: int}
actions:
  retention_offer:
    connector: bus
    payload: {customer: "{{ entity_id }}", score: "{{ score }}", why: "{{ reasons_text }}"}
connectors:
  bus: BUS
"""


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2030, 1, 1, 12, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@pytest.fixture(params=KINDS)
def reader(request: pytest.FixtureRequest) -> Iterator[Reader]:
    opened = open_reader(request.param)
    try:
        yield opened
    finally:
        opened.close()


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def spec_doc(connector: dict[str, Any], env: dict[str, str] | None = None) -> SpecDocument:
    return parse_spec(SPEC.replace("BUS", json.dumps(connector)), file="app.yaml", env=env or {})


def record(store: Store, doc: SpecDocument, i: int) -> tuple[Any, str]:
    made = decision(i, score=0.8)
    (wanted,) = deliveries_for(SpecFile(doc, Path()), [made])
    store.record([RecordRequest([made], deliveries=[wanted])], actor="t")
    return made, wanted.id


def expected_destination(reader: Reader) -> str:
    destination = {"rabbitmq": "churn.retention_offer", "redis": getattr(reader, "stream", "")}
    if reader.kind == "nats":
        return f"hbus.{getattr(reader, 'suffix', '')}.retention_offer"
    if reader.kind == "mqtt":
        return f"hbus/{getattr(reader, 'suffix', '')}/retention_offer"
    return destination[reader.kind]


def test_each_bus_connector_conforms(reader: Reader) -> None:
    def received() -> int:  # one more message, or a moment for one that is on its way
        return len(reader.wait_for(len(reader.received()) + 1, timeout=1))

    check_connector(
        connector_factory(reader.kind),
        reader.spec(),
        received=received,
        unreachable={**reader.spec(closed_port()), "timeout": 2},
    )
    copies = reader.wait_for(2, timeout=1)
    assert {m.delivery_id for m in copies} == {sample_delivery().id}
    assert len(copies) == (1 if reader.kind in DEDUPED_BY_BROKER else 2)


def test_a_decision_s_action_reaches_the_bus_once(store: Store, reader: Reader) -> None:
    doc = spec_doc(reader.spec())
    made, delivery_id = record(store, doc, 7)
    app = open_app_connectors(SpecFile(doc, Path()))
    with Dispatcher(store, [app]) as dispatcher:
        (report,) = dispatcher.drain()
        assert dispatcher.drain() == []
    assert (report.state, report.attempt) == ("delivered", 1), report.detail
    (message,) = reader.wait_for(1)
    assert json.loads(message.body) == {
        "customer": "C-7",
        "score": 0.8,
        "why": made.reasons_text,
    }
    assert message.headers["doorstep-delivery-id"] == delivery_id
    assert message.headers["doorstep-idempotency-key"] == f"{made.id}:retention_offer"
    assert message.headers["doorstep-app"] == "churn"
    assert message.headers["doorstep-action"] == "retention_offer"
    assert message.headers["doorstep-decision-id"] == made.id
    assert message.destination == expected_destination(reader)


def test_a_retry_after_the_publish_is_still_one_action(store: Store, reader: Reader) -> None:
    """The first attempt publishes, then its lease runs out before the result is recorded
    (as when the acknowledgement is lost): another worker sends it again."""
    doc = spec_doc(reader.spec())
    _, delivery_id = record(store, doc, 8)
    clock = Clock()
    app = open_app_connectors(SpecFile(doc, Path()))
    real = app.connectors["bus"]

    class TimesOutAfterPublishing:
        def send(self, delivery: Message) -> SendResult:
            result = real.send(delivery)
            clock.advance(1000)
            return result

        def close(self) -> None:
            pass

    slow_app = replace(app, connectors={"bus": TimesOutAfterPublishing()})
    with Dispatcher(store, [slow_app], clock=clock) as slow:
        (lost,) = slow.run_once()
    assert not lost.applied
    with Dispatcher(store, [app], clock=clock) as second:
        (resent,) = second.run_once()
    assert (resent.state, resent.attempt) == ("delivered", 2), resent.detail
    copies = reader.wait_for(2, timeout=2)
    assert {m.delivery_id for m in copies} == {delivery_id}  # one action for the consumer
    if reader.kind in DEDUPED_BY_BROKER:
        assert len(copies) == 1
        assert "already" in resent.detail
    else:  # at least once: the same message again, with the same id
        assert len(copies) == 2 and copies[0] == copies[1]


def test_a_broker_that_is_down_is_retried_and_nothing_is_lost(store: Store, reader: Reader) -> None:
    with Proxy(BROKERS[reader.kind]) as proxy:
        doc = spec_doc(reader.spec(proxy.port) | {"retry": {"delays": [30], "jitter": 0}})
        clock = Clock()
        app: AppConnectors = open_app_connectors(SpecFile(doc, Path()))
        with Dispatcher(store, [app], clock=clock) as dispatcher:
            _, first = record(store, doc, 1)
            (report,) = dispatcher.run_once()  # connected, and the connection is kept
            assert report.state == "delivered", report.detail
            proxy.shut()  # the broker goes down: the kept connection breaks
            _, second = record(store, doc, 2)
            (down,) = dispatcher.run_once()
            assert (down.outcome, down.state) == ("retry", "pending"), down.detail
            proxy.open()
            clock.advance(31)
            (back,) = dispatcher.run_once()
            assert (back.outcome, back.attempt) == ("delivered", 2), back.detail
    received = reader.wait_for(2)
    assert {m.delivery_id for m in received} == {first, second}


def test_a_broker_that_never_answers_is_given_up_by_the_deadline(reader: Reader) -> None:
    with Proxy(BROKERS[reader.kind]) as proxy:
        factory = connector_factory(reader.kind)
        spec = factory.spec_model.model_validate(reader.spec(proxy.port))
        connector = factory.from_spec(spec, ConnectorContext("bus", Path()))
        try:
            assert connector.send(sample_delivery()).outcome == "delivered"
            proxy.stall()
            started = time.monotonic()
            stalled = replace(sample_delivery(attempt=2), id="stalled", deadline=Deadline(1.0))
            result = connector.send(stalled)
            assert time.monotonic() - started < 3.5
            assert result.outcome == "retry" and "gave up after 1 s" in result.detail, result
            proxy.open()
            again = connector.send(replace(sample_delivery(), id="after", deadline=Deadline(5)))
            assert again.outcome == "delivered", again
        finally:
            connector.close()


@pytest.mark.parametrize("kind", KINDS)
def test_the_password_stays_out_of_details(kind: str, tmp_path: Path) -> None:
    password = "s3cret-Pa55word"
    url = {
        "rabbitmq": "amqp://guest:${MQ_PASS}@127.0.0.1:{port}/",
        "nats": "nats://doorstep:${MQ_PASS}@127.0.0.1:{port}",
        "redis": "redis://:${MQ_PASS}@127.0.0.1:{port}/0",
        "mqtt": "mqtt://doorstep:${MQ_PASS}@127.0.0.1:{port}",
    }[kind].replace("{port}", str(closed_port()))
    destination = {"rabbitmq": "exchange", "nats": "subject", "redis": "stream", "mqtt": "topic"}
    connector = {"type": kind, "url": url, destination[kind]: "x", "timeout": 2}
    connector["allow_networks"] = ["127.0.0.1/32"]
    doc = spec_doc(connector, env={"MQ_PASS": password})
    app = open_app_connectors(SpecFile(doc, tmp_path))
    try:
        result = app.connectors["bus"].send(sample_delivery())
    finally:
        app.close()
    assert result.outcome == "retry"
    assert password not in result.detail


def _send_once(kind: str, spec: dict[str, Any]) -> SendResult:
    factory = connector_factory(kind)
    connector = factory.from_spec(
        factory.spec_model.model_validate(spec), ConnectorContext("bus", Path())
    )
    try:
        return connector.send(sample_delivery())
    finally:
        connector.close()


def test_rabbitmq_refuses_what_no_queue_would_get(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="pika")
    reader = open_reader("rabbitmq")
    assert isinstance(reader, RabbitMQReader)
    try:
        spec = reader.spec() | {"exchange": reader.unbound_exchange()}
        unbound = _send_once("rabbitmq", spec)
        missing = _send_once("rabbitmq", spec | {"exchange": f"{spec['exchange']}-missing"})
        dropped = _send_once("rabbitmq", spec | {"mandatory": False})
    finally:
        reader.close()
    assert unbound.outcome == "retry" and "no queue is bound" in unbound.detail, unbound
    assert missing.outcome == "failed" and "NOT_FOUND" in missing.detail, missing
    assert dropped.outcome == "delivered"  # the spec accepts that the broker drops it
    # pika's line about the returned message keeps neither the payload nor its headers
    returned = [r.getMessage() for r in caplog.records if "was returned" in r.getMessage()]
    assert returned and all("body_size=" in line for line in returned), returned
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert "C-1042" not in logged and "doorstep-delivery-id" not in logged, logged


def test_nats_refuses_a_subject_no_stream_captures() -> None:
    reader = open_reader("nats")
    try:
        spec = reader.spec()
        result = _send_once("nats", spec | {"subject": f"hbus-none.{spec['stream']}"})
        elsewhere = _send_once("nats", spec | {"stream": "HBUS_SOMEWHERE_ELSE"})
    finally:
        reader.close()
    assert result.outcome == "failed" and "no JetStream stream captures" in result.detail
    assert elsewhere.outcome == "failed" and "JetStream refused" in elsewhere.detail


def test_a_connection_lost_while_idle_is_replaced_without_a_failed_attempt(
    reader: Reader,
) -> None:
    with Proxy(BROKERS[reader.kind]) as proxy:
        factory = connector_factory(reader.kind)
        spec = factory.spec_model.model_validate(reader.spec(proxy.port))
        connector = factory.from_spec(spec, ConnectorContext("bus", Path()))
        try:
            assert connector.send(sample_delivery()).outcome == "delivered"
            proxy.shut()  # the broker, a load balancer or a firewall drops the connection
            proxy.open()
            time.sleep(0.2)
            result = connector.send(replace(sample_delivery(), id="after-idle"))
            assert result.outcome == "delivered", result
        finally:
            connector.close()
    assert {m.delivery_id for m in reader.wait_for(2)} == {sample_delivery().id, "after-idle"}


def test_many_deliveries_from_concurrent_threads_arrive_once_each(
    store: Store, reader: Reader
) -> None:
    doc = spec_doc(reader.spec())
    made = [decision(i, score=0.8) for i in range(60)]
    wanted = deliveries_for(SpecFile(doc, Path()), made)
    store.record([RecordRequest(made, deliveries=wanted)], actor="t")
    app = open_app_connectors(SpecFile(doc, Path()))
    with Dispatcher(store, [app], concurrency=8) as dispatcher:
        reports = dispatcher.drain()
    assert sorted({r.state for r in reports}) == ["delivered"]
    received = reader.wait_for(60)
    assert sorted(m.delivery_id for m in received) == sorted(d.id for d in wanted)
