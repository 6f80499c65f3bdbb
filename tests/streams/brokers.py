"""The message brokers of the stream tests, on 127.0.0.1: NATS with JetStream (4222), Redis
(6379), RabbitMQ (5672, guest/guest) and Mosquitto (1883). ``scripts/test`` starts those that do
not run; a broker that cannot be reached fails its tests loudly, unless
``DOORSTEP_TEST_BROKERS=skip``.

Each fixture makes names of its own with a random suffix (a JetStream stream, a Redis key, a
RabbitMQ queue, an MQTT topic) and deletes them when the test ends: the shared brokers are never
reconfigured or filled. Each yields a :class:`Bus`: the spec of a stream source reading it, a
``publish`` of test messages, and the dead letters published so far.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable, Generator
from dataclasses import dataclass, field
from typing import Any

from tests.brokers import BROKERS, SKIP_ENV, broker_up
from tests.brokers import require_broker as require

__all__ = ["BROKERS", "SKIP_ENV", "Bus", "broker_up", "open_bus"]


@dataclass
class Bus:
    """A broker's test stream: ``source`` (the spec's ``source``), ``dead_letter`` (the spec's
    ``dead_letter``), ``publish(body, message_id)`` and ``dead_letters()`` (bodies published to
    the dead-letter destination so far)."""

    kind: str
    source: dict[str, Any]
    dead_letter: dict[str, Any]
    publish: Callable[[bytes, str], None]
    dead_letters: Callable[[], list[bytes]]
    cleanups: list[Callable[[], None]] = field(default_factory=list)


def open_bus(kind: str) -> Generator[Bus, None, None]:
    """A fixture body: the bus ``kind`` with names of its own, removed afterwards."""
    require(kind)
    suffix = uuid.uuid4().hex[:10]
    opener = {"nats": _nats, "redis": _redis, "rabbitmq": _rabbitmq, "mqtt": _mqtt}[kind]
    bus = opener(suffix)
    try:
        yield bus
    finally:
        for cleanup in reversed(bus.cleanups):
            cleanup()


def _nats(suffix: str) -> Bus:
    import nats

    stream, subject = f"DSTEST_{suffix}", f"dstest.{suffix}"
    dead_subject = f"dstest.{suffix}.dead"
    loop = asyncio.new_event_loop()
    nc: Any = loop.run_until_complete(nats.connect("nats://127.0.0.1:4222"))
    js = nc.jetstream()
    loop.run_until_complete(js.add_stream(name=stream, subjects=[f"dstest.{suffix}.>"]))
    seen: list[bytes] = []

    async def on_dead(msg: Any) -> None:
        seen.append(msg.data)

    loop.run_until_complete(nc.subscribe(dead_subject, cb=on_dead))

    def publish(body: bytes, message_id: str) -> None:
        loop.run_until_complete(
            js.publish(f"{subject}.created", body, headers={"Nats-Msg-Id": message_id})
        )

    def dead_letters() -> list[bytes]:
        loop.run_until_complete(nc.flush())
        loop.run_until_complete(asyncio.sleep(0.05))
        return list(seen)

    def cleanup() -> None:
        try:
            loop.run_until_complete(js.delete_stream(stream))
        finally:
            loop.run_until_complete(nc.close())
            loop.close()

    source = {
        "type": "nats",
        "url": "nats://127.0.0.1:4222",
        "stream": stream,
        "subject": f"{subject}.created",
        "durable": f"doorstep-{suffix}",
        "ack_wait": 1,
    }
    return Bus("nats", source, {"subject": dead_subject}, publish, dead_letters, [cleanup])


def _redis(suffix: str) -> Bus:
    import redis

    client: Any = redis.Redis(host="127.0.0.1", port=6379, socket_timeout=5)
    prefix = f"doorstep-test-{suffix}"
    key, dead = f"{prefix}:events", f"{prefix}:dead"
    client.xgroup_create(key, "doorstep", id="$", mkstream=True)

    def publish(body: bytes, message_id: str) -> None:
        client.xadd(key, {"body": body, "message_id": message_id})

    def dead_letters() -> list[bytes]:
        return [fields[b"body"] for _, fields in client.xrange(dead)]

    def cleanup() -> None:
        keys = list(client.scan_iter(f"{prefix}:*"))
        if keys:
            client.delete(*keys)
        client.close()

    source: dict[str, Any] = {"type": "redis", "url": "redis://127.0.0.1:6379/0", "stream": key}
    source |= {"group": "doorstep", "claim_after": 1}
    return Bus("redis", source, {"stream": dead}, publish, dead_letters, [cleanup])


def _rabbitmq(suffix: str) -> Bus:
    import pika

    params = pika.URLParameters("amqp://guest:guest@127.0.0.1:5672/%2F")
    connection = pika.BlockingConnection(params)
    channel = connection.channel()
    channel.confirm_delivery()
    queue, dead = f"doorstep-test-{suffix}", f"doorstep-test-{suffix}-dead"
    channel.queue_declare(queue, durable=False)
    channel.queue_declare(dead, durable=False)

    def publish(body: bytes, message_id: str) -> None:
        channel.basic_publish(
            "", queue, body, pika.BasicProperties(message_id=message_id, delivery_mode=2)
        )

    got: list[bytes] = []

    def dead_letters() -> list[bytes]:
        while True:
            method, _, body = channel.basic_get(dead, auto_ack=True)
            if method is None:
                return list(got)
            got.append(body)

    def cleanup() -> None:
        try:
            channel.queue_delete(queue)
            channel.queue_delete(dead)
        finally:
            connection.close()

    source = {"type": "rabbitmq", "url": "amqp://guest:guest@127.0.0.1:5672/", "queue": queue}
    return Bus("rabbitmq", source, {"queue": dead}, publish, dead_letters, [cleanup])


def _mqtt(suffix: str) -> Bus:
    import paho.mqtt.client as mqtt
    from paho.mqtt.enums import CallbackAPIVersion

    topic, dead = f"doorstep-test/{suffix}/events", f"doorstep-test/{suffix}/dead"
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"dstest-pub-{suffix}")
    seen: list[bytes] = []
    client.on_message = lambda _c, _u, msg: seen.append(bytes(msg.payload))
    client.connect("127.0.0.1", 1883)
    client.loop_start()
    client.subscribe(dead, qos=1)
    time.sleep(0.2)

    def publish(body: bytes, message_id: str) -> None:
        client.publish(topic, body, qos=1).wait_for_publish(5)

    def dead_letters() -> list[bytes]:
        time.sleep(0.2)
        return list(seen)

    group = f"doorstep{suffix}"

    def cleanup() -> None:
        client.loop_stop()
        client.disconnect()
        # end the persistent session the consumer left on the broker
        ender = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=f"doorstep-{group}-orders",
            clean_session=True,
        )
        try:
            ender.connect("127.0.0.1", 1883)
            ender.disconnect()
        except OSError:
            pass

    source = {"type": "mqtt", "url": "mqtt://127.0.0.1:1883", "topic": topic, "group": group}
    return Bus("mqtt", source, {"topic": dead}, publish, dead_letters, [cleanup])
