"""An MQTT source (MQTT 5): a shared subscription (``$share/GROUP/TOPIC``) at QoS 1 on a
persistent session, each message's ``PUBACK`` sent by hand after its decisions are committed.

The session's ``Receive Maximum`` is the micro-batch size: the broker sends no more messages
than that unacknowledged. The session outlives a disconnection (an hour), so what was not
acknowledged when a consumer stopped is sent again when it reconnects with the same client id.
The message id is the MQTT 5 user property ``message-id`` when the publisher set one, else a
SHA-256 of the payload (MQTT has no id of its own that survives redelivery). Dead letters are
published at QoS 1 to ``dead_letter.topic``.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlsplit

from doorstep.core.spec.streams import DeadLetterSpec, MQTTStreamSourceSpec
from doorstep.errors import ConnectorSpecError, StreamUnavailableError
from doorstep.streams.base import StreamMessage, body_id, host_of

__all__ = ["MQTTStreamSource"]

SESSION_SECONDS = 3600
LINGER = 0.01
"""Seconds a batch waits for one more message once it has one (they trickle in as the
previous batch's acknowledgements free the broker's in-flight window)."""


class MQTTStreamSource:
    type = "mqtt"
    kind = "mqtt"
    spec_model = MQTTStreamSourceSpec

    def __init__(
        self,
        name: str,
        spec: MQTTStreamSourceSpec,
        *,
        dead_letter: DeadLetterSpec | None,
        batch: int,
    ) -> None:
        try:
            import paho.mqtt.client as mqtt
            from paho.mqtt.enums import CallbackAPIVersion
            from paho.mqtt.packettypes import PacketTypes
            from paho.mqtt.properties import Properties
        except ImportError:
            raise ConnectorSpecError(
                name, "type", "the MQTT client is not installed: pip install 'doorstep[streams]'"
            ) from None
        self.name, self.spec, self._dead = name, spec, dead_letter
        parts = urlsplit(spec.url)
        if parts.scheme not in ("mqtt", "tcp") or not parts.hostname:
            raise ConnectorSpecError(
                name, "url", f"expected mqtt://HOST:PORT, got {host_of(spec.url)!r}"
            )
        self._messages: queue.Queue[StreamMessage] = queue.Queue()
        self._connected = threading.Event()
        self._refused: str | None = None
        self._generation = 0
        """Counts connections: a packet id is only good on the connection that received it."""
        client_id = spec.client_id or f"doorstep-{spec.group}-{name}"
        client: Any = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=client_id,
            protocol=mqtt.MQTTv5,
            manual_ack=True,
        )
        if parts.username:
            client.username_pw_set(parts.username, parts.password)
        client.on_connect = self._on_connect
        client.on_disconnect = lambda *_: self._connected.clear()
        client.on_message = self._on_message
        client.on_subscribe = self._on_subscribe
        self._client = client
        self._success = mqtt.MQTT_ERR_SUCCESS
        properties = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
        properties.SessionExpiryInterval = SESSION_SECONDS
        properties.ReceiveMaximum = batch
        try:
            client.connect(
                parts.hostname,
                parts.port or 1883,
                keepalive=30,
                clean_start=False,
                properties=properties,
            )
        except OSError as error:
            raise self._unavailable("connect", f"{type(error).__name__}: {error}") from None
        client.loop_start()
        if not self._connected.wait(10) or self._refused:
            client.loop_stop()
            raise self._unavailable("connect", self._refused or "no CONNACK/SUBACK within 10 s")

    @classmethod
    def from_spec(cls, name: str, spec: Any, *, dead_letter: Any, batch: int) -> MQTTStreamSource:
        return cls(name, spec, dead_letter=dead_letter, batch=batch)

    def _unavailable(self, doing: str, why: str) -> StreamUnavailableError:
        return StreamUnavailableError(
            self.name,
            f"stream {self.name!r}: MQTT at {host_of(self.spec.url)} failed to {doing}: {why}",
        )

    def _on_connect(self, client: Any, _data: Any, _flags: Any, reason: Any, _p: Any) -> None:
        if reason.is_failure:
            self._refused = str(reason)
            self._connected.set()
        else:  # connected once the broker confirmed the subscription
            self._generation += 1
            client.subscribe(f"$share/{self.spec.group}/{self.spec.topic}", qos=1)

    def _on_subscribe(self, _client: Any, _data: Any, _mid: Any, codes: Any, _p: Any) -> None:
        failed = [c for c in codes if c.is_failure]
        if failed:
            self._refused = f"the subscription was refused: {failed[0]}"
        self._connected.set()

    def _on_message(self, _client: Any, _data: Any, msg: Any) -> None:
        ident = None
        properties = getattr(msg, "properties", None)
        for key, value in getattr(properties, "UserProperty", None) or []:
            if key == "message-id":
                ident = value
        self._messages.put(
            StreamMessage(
                body=msg.payload,
                message_id=ident or body_id(msg.payload),
                partition=msg.topic,
                sequence=msg.mid,
                redelivered=bool(msg.dup),
                handle=(self._generation, msg.mid),
            )
        )

    def fetch(self, limit: int, wait: float) -> list[StreamMessage]:
        if not self._connected.is_set():
            raise self._unavailable("read", "not connected (reconnecting)")
        taken: list[StreamMessage] = []
        try:
            taken.append(self._messages.get(timeout=wait))
            while len(taken) < limit:  # the broker sends one more per PUBACK: linger a little
                taken.append(self._messages.get(timeout=LINGER))
        except queue.Empty:
            pass
        return taken

    def ack(self, messages: Sequence[StreamMessage]) -> None:
        for message in messages:
            generation, mid = message.handle
            if generation != self._generation:  # the broker sends it again on this connection
                continue  # (the session resumed), where its packet id may now be another's
            code = self._client.ack(mid, 1)
            if code != self._success:
                raise self._unavailable("acknowledge", f"error code {code}")

    def dead_letter(self, message: StreamMessage, body: bytes) -> None:
        if self._dead is None or self._dead.topic is None:
            return
        info = self._client.publish(self._dead.topic, body, qos=1)
        try:
            info.wait_for_publish(timeout=10)
        except (RuntimeError, ValueError) as error:
            raise self._unavailable("publish a dead letter", str(error)) from None
        if not info.is_published():
            raise self._unavailable("publish a dead letter", "no PUBACK within 10 s")

    def lag(self) -> int | None:
        return None  # MQTT brokers do not tell a subscriber what waits for it

    def close(self) -> None:
        self._client.loop_stop()
        self._client.disconnect()
