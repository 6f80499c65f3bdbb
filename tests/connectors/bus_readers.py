"""Consumers on the real brokers that read back what a bus connector published: each makes its
own exchange and queue, stream, key or topic (a random suffix) and deletes it in
:meth:`Reader.close`."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import nats
import paho.mqtt.client as mqtt
import pika
import redis
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion
from tests.connectors.bus_brokers import BROKERS, require_broker, suffix

from doorstep.connectors.redis_stream import guard_key

__all__ = ["KINDS", "RabbitMQReader", "Reader", "Received", "open_reader"]

KINDS = ("rabbitmq", "nats", "redis", "mqtt")
LOOPBACK = ["127.0.0.1/32"]
"""The brokers are on loopback, which the network guard refuses unless it is allowed."""
T = TypeVar("T")


@dataclass(frozen=True)
class Received:
    headers: dict[str, str]
    body: bytes
    destination: str

    @property
    def delivery_id(self) -> str:
        return self.headers["doorstep-delivery-id"]


class Reader:
    """What a consumer of one kind of bus offers a test."""

    kind: str

    def spec(self, port: int | None = None) -> dict[str, Any]:
        """A connector spec publishing where this reader reads (through ``port``, a proxy)."""
        raise NotImplementedError

    def received(self) -> list[Received]:
        """Everything read so far, in order (copies of a resend included)."""
        raise NotImplementedError

    def wait_for(self, count: int, timeout: float = 5.0) -> list[Received]:
        """:meth:`received` once it holds ``count`` messages (or the timeout passed), and a
        moment more, so that a copy too many would show."""
        ends = time.monotonic() + timeout
        while len(self.received()) < count and time.monotonic() < ends:
            time.sleep(0.05)
        time.sleep(0.2)
        return self.received()

    def close(self) -> None:
        raise NotImplementedError


class RabbitMQReader(Reader):
    kind = "rabbitmq"

    def __init__(self) -> None:
        self.name = f"hbus-{suffix()}"
        self._connection = pika.BlockingConnection(pika.URLParameters(_url("rabbitmq")))
        self._channel = self._connection.channel()
        self._channel.exchange_declare(self.name, "topic")
        self._channel.queue_declare(self.name, exclusive=True)
        self._channel.queue_bind(self.name, self.name, routing_key="#")
        self._seen: list[Received] = []
        self._exchanges = [self.name]

    def unbound_exchange(self) -> str:
        """A further exchange, which no queue is bound to (deleted with the reader's)."""
        name = f"{self.name}-unbound"
        self._channel.exchange_declare(name, "topic")
        self._exchanges.append(name)
        return name

    def spec(self, port: int | None = None) -> dict[str, Any]:
        return {
            "type": "rabbitmq",
            "url": _url("rabbitmq", port),
            "exchange": self.name,
            "routing_key": "churn.{{ action }}",
            "timeout": 5,
            "allow_networks": LOOPBACK,
        }

    def received(self) -> list[Received]:
        while True:
            method, properties, body = self._channel.basic_get(self.name, auto_ack=True)
            if method is None:
                return list(self._seen)
            headers = {str(k): str(v) for k, v in (properties.headers or {}).items()}
            assert properties.message_id == headers["doorstep-delivery-id"]
            assert properties.delivery_mode == 2 and properties.content_type == "application/json"
            self._seen.append(Received(headers, bytes(body), method.routing_key))

    def close(self) -> None:
        try:
            self._channel.queue_delete(self.name)
            for exchange in self._exchanges:
                self._channel.exchange_delete(exchange)
        finally:
            self._connection.close()


class NATSReader(Reader):
    kind = "nats"

    def __init__(self) -> None:
        self.suffix = suffix()
        self.stream = f"HBUS_{self.suffix}"
        self._run(lambda js: js.add_stream(name=self.stream, subjects=[f"hbus.{self.suffix}.>"]))

    def spec(self, port: int | None = None) -> dict[str, Any]:
        return {
            "type": "nats",
            "url": _url("nats", port),
            "subject": f"hbus.{self.suffix}.{{{{ action }}}}",
            "stream": self.stream,
            "timeout": 5,
            "allow_networks": LOOPBACK,
        }

    def received(self) -> list[Received]:
        async def read(js: Any) -> list[Received]:
            state = (await js.stream_info(self.stream)).state
            found = []
            for seq in range(state.first_seq, state.last_seq + 1) if state.messages else ():
                msg = await js.get_msg(self.stream, seq)
                found.append(Received(dict(msg.headers or {}), msg.data, msg.subject))
            return found

        return self._run(read)

    def close(self) -> None:
        self._run(lambda js: js.delete_stream(self.stream))

    def _run(self, action: Callable[[Any], Awaitable[T]]) -> T:
        async def main() -> T:
            client = await nats.connect(_url("nats"))
            try:
                return await action(client.jetstream())
            finally:
                await client.close()

        return asyncio.run(main())


class RedisReader(Reader):
    kind = "redis"

    def __init__(self) -> None:
        self.stream = f"hbus:{suffix()}"
        self._client: Any = redis.Redis.from_url(_url("redis"))

    def spec(self, port: int | None = None) -> dict[str, Any]:
        return {
            "type": "redis",
            "url": _url("redis", port),
            "stream": self.stream,
            "timeout": 5,
            "allow_networks": LOOPBACK,
        }

    def received(self) -> list[Received]:
        found = []
        for _, fields in self._client.xrange(self.stream):
            decoded = {k.decode(): v for k, v in fields.items()}
            body = decoded.pop("body")
            headers = {k: v.decode() for k, v in decoded.items()}
            found.append(Received(headers, body, self.stream))
        return found

    def close(self) -> None:
        guards = list(self._client.scan_iter(match=guard_key(self.stream, "*")))
        self._client.delete(self.stream, *guards)
        self._client.close()


class MQTTReader(Reader):
    kind = "mqtt"

    def __init__(self) -> None:
        self.suffix = suffix()
        self._seen: list[Received] = []
        self._lock = threading.Lock()
        subscribed = threading.Event()
        self._client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=f"hbus-reader-{self.suffix}",
            protocol=MQTTProtocolVersion.MQTTv5,
        )
        self._client.on_message = self._on_message
        self._client.on_subscribe = lambda *args: subscribed.set()
        self._client.connect("127.0.0.1", BROKERS["mqtt"])
        self._client.loop_start()
        self._client.subscribe(f"hbus/{self.suffix}/#", qos=1)
        assert subscribed.wait(5), "no SUBACK from the MQTT broker"

    def spec(self, port: int | None = None) -> dict[str, Any]:
        return {
            "type": "mqtt",
            "url": _url("mqtt", port),
            "topic": f"hbus/{self.suffix}/{{{{ action }}}}",
            "timeout": 5,
            "allow_networks": LOOPBACK,
        }

    def received(self) -> list[Received]:
        with self._lock:
            return list(self._seen)

    def close(self) -> None:
        self._client.disconnect()
        self._client.loop_stop()

    def _on_message(self, _client: Any, _userdata: Any, message: Any) -> None:
        properties = getattr(message, "properties", None)
        pairs = getattr(properties, "UserProperty", []) or []
        assert getattr(properties, "ContentType", None) == "application/json"
        with self._lock:
            self._seen.append(Received(dict(pairs), bytes(message.payload), message.topic))


_READERS: dict[str, type[Reader]] = {
    "rabbitmq": RabbitMQReader,
    "nats": NATSReader,
    "redis": RedisReader,
    "mqtt": MQTTReader,
}


def open_reader(kind: str) -> Reader:
    """A reader of ``kind`` on its broker (the test fails, or skips, when it is not running)."""
    require_broker(kind)
    return _READERS[kind]()


def _url(kind: str, port: int | None = None) -> str:
    port = port or BROKERS[kind]
    return {
        "rabbitmq": f"amqp://guest:guest@127.0.0.1:{port}/%2F",
        "nats": f"nats://127.0.0.1:{port}",
        "redis": f"redis://127.0.0.1:{port}/0",
        "mqtt": f"mqtt://127.0.0.1:{port}",
    }[kind]
