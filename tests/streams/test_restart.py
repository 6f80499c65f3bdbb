"""A broker restarted mid-stream, between a micro-batch's commit and its acknowledgement: NATS,
Redis and Mosquitto servers of the test's own (restarted on their files), and the shared
RabbitMQ closing the consumer's connection from its side. The consumer reconnects, every message
is decided exactly once, no action is written twice, and nothing is left unacknowledged."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import polars as pl
import pytest
import sqlalchemy as sa
from tests.streams.brokers import open_bus
from tests.streams.own_brokers import (
    OwnMosquitto,
    OwnNATS,
    OwnRedis,
    close_rabbitmq_connection,
)

from doorstep.core.spec.streams import StreamSpec
from doorstep.plugins import open_stream
from doorstep.services.apps.loading import LoadedApp
from doorstep.services.decide.streams import StreamConsumer
from doorstep.store import Store, open_store
from doorstep.store.tables import decisions, deliveries
from doorstep.streams.base import StreamSource

MESSAGES = 12


@dataclass
class Restartable:
    """A bus a test can disrupt: the spec's ``source``, ``publish(body, message_id)`` and
    ``disrupt(source)`` (the broker restarted, or the consumer's connection closed by it)."""

    source: dict[str, Any]
    publish: Callable[[bytes, str], None]
    disrupt: Callable[[StreamSource], None]
    subscribed: Callable[[StreamSource], bool] = lambda _: True
    """Whether the consumer is subscribed again (MQTT: a broker drops what is published to a
    shared subscription that no session holds, and Mosquitto does not restore them)."""


def _nats(folder: Path) -> Iterator[Restartable]:
    import nats

    own = OwnNATS(folder)
    own.start()

    async def go(body: bytes | None, message_id: str) -> None:
        nc: Any = await nats.connect(own.url)
        js = nc.jetstream()
        if body is None:
            await js.add_stream(name="ORDERS", subjects=["orders.>"])
        else:
            await js.publish("orders.created", body, headers={"Nats-Msg-Id": message_id})
        await nc.close()

    def publish(body: bytes, message_id: str) -> None:
        asyncio.run(go(body, message_id))

    source: dict[str, Any] = {"type": "nats", "url": own.url, "stream": "ORDERS"}
    source |= {"subject": "orders.created"}
    source |= {"durable": "doorstep", "ack_wait": 1}
    asyncio.run(go(None, ""))  # the stream, before its consumer
    try:
        yield Restartable(source, publish, lambda _: own.restart())
    finally:
        own.stop()


def _redis(folder: Path) -> Iterator[Restartable]:
    import redis

    own = OwnRedis(folder)
    own.start()

    def publish(body: bytes, message_id: str) -> None:
        client: Any = redis.Redis.from_url(own.url)
        client.xadd("orders", {"body": body, "message_id": message_id})
        client.close()

    source = {"type": "redis", "url": own.url, "stream": "orders", "group": "doorstep"}
    try:
        yield Restartable(source | {"claim_after": 1}, publish, lambda _: own.restart())
    finally:
        own.stop()


def _mqtt(folder: Path) -> Iterator[Restartable]:
    import paho.mqtt.client as mqtt
    from paho.mqtt.enums import CallbackAPIVersion
    from paho.mqtt.packettypes import PacketTypes
    from paho.mqtt.properties import Properties

    own = OwnMosquitto(folder)
    own.start()

    def publish(body: bytes, message_id: str) -> None:
        client = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
        client.connect("127.0.0.1", own.port)
        client.loop_start()
        properties = Properties(PacketTypes.PUBLISH)  # type: ignore[no-untyped-call]
        properties.UserProperty = ("message-id", message_id)
        client.publish("orders/created", body, qos=1, properties=properties).wait_for_publish(5)
        client.loop_stop()
        client.disconnect()

    def subscribed(source: StreamSource) -> bool:
        mqtt_source: Any = source
        return bool(mqtt_source._generation >= 2 and mqtt_source._connected.is_set())

    source = {"type": "mqtt", "url": own.url, "topic": "orders/created", "group": "doorstep"}
    try:
        yield Restartable(source, publish, lambda _: own.restart(), subscribed)
    finally:
        own.stop()


def _rabbitmq(_folder: Path) -> Iterator[Restartable]:
    for bus in open_bus("rabbitmq"):

        def disrupt(source: StreamSource) -> None:
            connection: Any = source._connection  # type: ignore[attr-defined]
            close_rabbitmq_connection(connection._impl._transport._sock.getsockname()[1])

        yield Restartable(bus.source, bus.publish, disrupt)


@pytest.fixture(
    params=["nats", "redis", "mqtt", pytest.param("rabbitmq", marks=pytest.mark.services)]
)
def restartable(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Restartable]:
    opener = {"nats": _nats, "redis": _redis, "mqtt": _mqtt, "rabbitmq": _rabbitmq}
    yield from opener[request.param](tmp_path / "broker")


def count(store: Store, table: sa.Table) -> int:
    with store.engine.connect() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one())


def step_until(worker: StreamConsumer, done: Callable[[], bool], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not done() and time.monotonic() < deadline:
        worker.step()


@pytest.mark.slow
def test_broker_restart_between_commit_and_ack(
    restartable: Restartable,
    churn_loaded_app: LoadedApp,
    churn_app_template: Path,
    tmp_path: Path,
) -> None:
    frame = pl.read_parquet(churn_app_template / "customers.parquet").head(MESSAGES)
    rows = frame.drop("email").to_dicts()
    bodies = [orjson.dumps({k: v for k, v in r.items() if v is not None}) for r in rows]
    spec = StreamSpec.model_validate({"source": restartable.source, "batch": 3, "wait": 0.2})
    store = open_store(f"sqlite:///{tmp_path / 'doorstep.db'}")
    worker = StreamConsumer(
        churn_loaded_app, store, "orders", spec, open_stream("orders", spec), pause=0.05
    )
    tag = uuid.uuid4().hex[:6]
    disrupted: list[int] = []

    def disrupt(held: Any) -> None:  # the second batch is committed, not yet acknowledged
        if count(store, decisions) >= 6 and not disrupted:
            disrupted.append(len(held))
            restartable.disrupt(worker.source)

    worker.after_commit = disrupt
    second: StreamConsumer | None = None
    closed = False
    try:
        for i, body in enumerate(bodies[:6]):
            restartable.publish(body, f"{tag}-{i}")
        step_until(worker, lambda: bool(disrupted), 20)
        assert disrupted, "the first six messages were not decided"
        step_until(worker, lambda: not worker._held, 30)  # reconnected, the batch settled
        assert not worker._held, worker.counters.last_error
        step_until(worker, lambda: restartable.subscribed(worker.source), 10)
        for i, body in enumerate(bodies[6:], start=6):
            restartable.publish(body, f"{tag}-{i}")
        step_until(worker, lambda: count(store, decisions) >= MESSAGES, 30)
        settle = time.monotonic() + 1.5  # redeliveries of the disrupted batch, recognised
        while time.monotonic() < settle:
            worker.step()
        worker.source.close()
        closed = True
        # a consumer started afterwards finds nothing left to decide
        second = StreamConsumer(
            churn_loaded_app, store, "orders", spec, open_stream("orders", spec), pause=0.05
        )
        later = [second.step() for _ in range(6)]
        with store.engine.connect() as conn:
            entities = [r.entity_id for r in conn.execute(sa.select(decisions.c.entity_id))]
            doubled = conn.execute(
                sa.select(deliveries.c.decision_id)
                .group_by(deliveries.c.decision_id, deliveries.c.action)
                .having(sa.func.count() > 1)
            ).all()
    finally:
        if not closed:
            worker.source.close()
        if second is not None:
            second.source.close()
        store.close()
    assert sorted(entities) == sorted(frame["customer_id"].to_list())  # each message once
    assert doubled == []  # no action written twice
    assert sum(r.decided for r in later) == 0, later
