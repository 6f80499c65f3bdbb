"""A bus connector whose broker restarts between two deliveries (a Redis and a Mosquitto of the
test's own, restarted on their files): the kept connection is replaced, the next delivery is
``delivered`` (at most one ``retry`` first), and both messages are on the broker."""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from tests.streams.own_brokers import OwnBroker, OwnMosquitto, OwnRedis

from doorstep.connectors.base import ConnectorContext
from doorstep.plugins import connector_factory
from doorstep.testing.connectors import sample_delivery

LOOPBACK = ["127.0.0.0/8"]


def _mqtt_reader(own: OwnBroker) -> tuple[list[bytes], list[int], Any]:
    """A reader subscribed to the connector's topic; ``subscribed`` grows by one each time its
    subscription is granted (at start and after it reconnects to the restarted broker)."""
    import paho.mqtt.client as mqtt
    from paho.mqtt.enums import CallbackAPIVersion

    seen: list[bytes] = []
    subscribed: list[int] = []
    client = mqtt.Client(
        CallbackAPIVersion.VERSION2, client_id="restart-reader", clean_session=False
    )
    client.on_message = lambda _c, _u, msg: seen.append(bytes(msg.payload))
    client.on_connect = lambda c, *_: c.subscribe("hbus/#", qos=1)
    client.on_subscribe = lambda *_: subscribed.append(1)
    client.reconnect_delay_set(min_delay=1, max_delay=1)
    client.connect("127.0.0.1", own.port)
    client.loop_start()
    return seen, subscribed, client


def _wait_for(condition: Any, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.02)


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["redis", "mqtt"])
def test_a_broker_restart_between_two_deliveries(kind: str, tmp_path: Path) -> None:
    own: OwnBroker = (OwnRedis if kind == "redis" else OwnMosquitto)(tmp_path / "broker")
    own.start()
    reader: Any = None
    spec: dict[str, Any]
    try:
        if kind == "redis":
            spec = {"type": "redis", "url": f"redis://127.0.0.1:{own.port}/0", "stream": "hbus"}
        else:
            seen, subscribed, reader = _mqtt_reader(own)
            spec = {"type": "mqtt", "url": f"mqtt://127.0.0.1:{own.port}", "topic": "hbus/a"}
        spec |= {"timeout": 5, "allow_networks": LOOPBACK}
        factory = connector_factory(kind)
        connector = factory.from_spec(
            factory.spec_model.model_validate(spec), ConnectorContext("bus", Path())
        )
        try:
            if kind == "mqtt":
                _wait_for(lambda: len(subscribed) >= 1, 10)
            assert connector.send(sample_delivery()).outcome == "delivered"
            own.restart()
            if kind == "mqtt":  # a message for a reader not yet back is Mosquitto's to keep
                _wait_for(lambda: len(subscribed) >= 2, 15)
            after = replace(sample_delivery(), id="after-restart")
            outcomes = [connector.send(after).outcome]
            if outcomes[0] != "delivered":
                outcomes.append(connector.send(after).outcome)
        finally:
            connector.close()
        assert outcomes[-1] == "delivered" and len(outcomes) <= 2, outcomes
        if kind == "redis":
            import redis

            client: Any = redis.Redis(port=own.port)
            assert client.xlen("hbus") == 2  # the first kept across the restart, the second
            client.close()
        else:
            deadline = time.monotonic() + 5
            while len(seen) < 2 and time.monotonic() < deadline:
                time.sleep(0.05)
            assert len(seen) >= 2, seen
    finally:
        if reader is not None:
            reader.loop_stop()
            reader.disconnect()
        own.stop()
