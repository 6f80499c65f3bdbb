"""The MQTT connector: publish each action at QoS 1 (MQTT 5), ``delivered`` on the broker's
PUBACK.

The topic is a template (``"doorstep/{{ app }}/{{ action }}"``). The message carries the JSON
body of :mod:`doorstep.connectors.bus`, ``content-type`` and the bus headers as MQTT 5 user
properties. QoS 1 is at least once: a retry after a lost PUBACK publishes the message again,
and consumers dedupe on the ``doorstep-delivery-id`` property.

One paho-mqtt client, with its network thread, is shared by the worker threads (its
``publish`` is thread-safe); a lost connection is replaced on the next send, and
:meth:`MQTTConnector.close` disconnects it.
"""

from __future__ import annotations

import builtins
import contextlib
import secrets
import threading
import time
from collections.abc import Mapping
from typing import Any, ClassVar
from urllib.parse import unquote

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode, MQTTProtocolVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode
from pydantic import BaseModel

from doorstep.connectors.base import ConnectorContext, Message, SendResult
from doorstep.connectors.bus import CONTENT_TYPE, BusConnector, describe
from doorstep.core.spec.buses import MQTTConnectorSpec, mqtt_topic_problem
from doorstep.errors import AddressNotAllowedError

__all__ = ["MQTTConnector"]

_POLL = 0.05
"""Seconds between two looks at a deadline while waiting for a PUBACK."""


class MQTTConnector(BusConnector[MQTTConnectorSpec]):
    """Publishes each action at QoS 1 on the rendered ``topic``."""

    type: ClassVar[str] = "mqtt"
    spec_model: ClassVar[builtins.type[BaseModel]] = MQTTConnectorSpec
    ports: ClassVar[Mapping[str, int]] = {"mqtt": 1883, "mqtts": 8883}
    destination: ClassVar[str] = "topic"
    broker: ClassVar[str] = "the MQTT broker"
    _destination_problem = staticmethod(mqtt_topic_problem)

    def __init__(self, spec: MQTTConnectorSpec, context: ConnectorContext) -> None:
        super().__init__(spec, context)
        url = self._url
        self._host = url.hostname or ""
        self._tls = url.scheme == "mqtts"
        self._login = (unquote(url.username), unquote(url.password or "")) if url.username else None
        self._lock = threading.Lock()
        self._client: mqtt.Client | None = None
        self._refused: dict[int, ReasonCode] = {}

    def send(self, delivery: Message) -> SendResult:
        """Publish once at QoS 1 and wait for the PUBACK."""
        prepared = self._prepare(delivery)
        if isinstance(prepared, SendResult):
            return prepared
        message, timeout = prepared
        deadline = delivery.deadline
        try:
            client = self._connected(timeout)
        except AddressNotAllowedError as error:  # only a change of the spec can help
            return SendResult("failed", self._redact(error.message))
        except Exception as error:
            return SendResult(
                "retry", self._redact(f"cannot connect to the MQTT broker: {describe(error)}")
            )
        properties = Properties(PacketTypes.PUBLISH)  # type: ignore[no-untyped-call]
        properties.ContentType = CONTENT_TYPE
        properties.UserProperty = list(message.headers.items())
        topic = message.destination
        info = client.publish(
            topic, message.body, qos=1, retain=self._spec.retain, properties=properties
        )
        if info.rc != MQTTErrorCode.MQTT_ERR_SUCCESS:
            return SendResult(
                "retry", self._redact(f"cannot publish on {topic!r}: {mqtt.error_string(info.rc)}")
            )
        ends = time.monotonic() + timeout
        while not info.is_published():
            if deadline is not None and deadline.expired:
                return deadline.give_up("waiting for the MQTT broker's PUBACK")
            if time.monotonic() >= ends:
                return SendResult("retry", f"no PUBACK within {timeout:.3g} s for topic {topic!r}")
            with contextlib.suppress(RuntimeError, ValueError):
                info.wait_for_publish(_POLL)
        refused = self._refused.pop(info.mid, None)
        if refused is not None:
            return SendResult("failed", self._redact(f"the broker refused {topic!r}: {refused}"))
        return SendResult("delivered", f"acknowledged by the MQTT broker (PUBACK): {topic!r}")

    def close(self) -> None:
        """Disconnect and stop the network thread."""
        with self._lock:
            client, self._client = self._client, None
        if client is not None:
            _stop(client)

    def _connected(self, timeout: float) -> mqtt.Client:
        with self._lock:
            if self._client is not None and self._client.is_connected():
                return self._client
            if self._client is not None:
                _stop(self._client)
                self._client = None
            client = self._new_client(timeout)
            self._client = client
            return client

    def _new_client(self, timeout: float) -> mqtt.Client:
        self._guard.check()
        client_id = self._spec.client_id or f"doorstep-{self.name}-{secrets.token_hex(4)}"
        client = mqtt.Client(
            CallbackAPIVersion.VERSION2, client_id=client_id, protocol=MQTTProtocolVersion.MQTTv5
        )
        if self._login is not None:
            client.username_pw_set(*self._login)
        if self._tls:
            client.tls_set()
        client.connect_timeout = timeout
        answered = threading.Event()
        answer: list[ReasonCode] = []

        def on_connect(_c: Any, _u: Any, _f: Any, reason: ReasonCode, _p: Any) -> None:
            answer.append(reason)
            answered.set()

        def on_publish(_c: Any, _u: Any, mid: int, reason: ReasonCode, _p: Any) -> None:
            if reason.is_failure:
                self._refused[mid] = reason

        client.on_connect = on_connect
        client.on_publish = on_publish
        client.connect(self._host, self._port, keepalive=60, clean_start=True)
        client.loop_start()
        if not answered.wait(timeout):
            _stop(client)
            raise TimeoutError(f"no CONNACK within {timeout:.3g} s")
        if answer[0].is_failure:
            _stop(client)
            raise ConnectionRefusedError(f"the broker refused the connection: {answer[0]}")
        return client


def _stop(client: mqtt.Client) -> None:
    with contextlib.suppress(Exception):
        client.disconnect()
    with contextlib.suppress(Exception):
        client.loop_stop()
