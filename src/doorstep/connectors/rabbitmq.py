"""The RabbitMQ connector: publish each action to an exchange (AMQP 0-9-1), persistent, with
publisher confirms: ``delivered`` only once the broker has confirmed the message (written to
its queues' disks for durable queues).

The routing key is a template (``"{{ action }}"`` by default). The message carries the body
and headers of :mod:`doorstep.connectors.bus`, and ``message_id`` = the delivery's id,
``app_id`` = ``doorstep``, ``type`` = the action. RabbitMQ does not drop a resend by itself:
consumers dedupe on ``message_id`` (a retry after a lost confirm publishes the message again).
A message no queue is bound for is refused (``mandatory``) and retried later, not dropped.

pika logs a message the broker returned at WARNING with its properties and the first 255
bytes of its body (the action's payload); once a connector is made, that line is logged
without them (the reply code and text, the exchange, the routing key and the body's size stay).

Each worker thread keeps one connection and channel (pika's connections are not thread-safe);
all are closed by :meth:`RabbitMQConnector.close`.
"""

from __future__ import annotations

import builtins
import contextlib
import logging
import socket
import threading
import time
from collections.abc import Mapping
from typing import ClassVar

import pika
import pika.exceptions
from pydantic import BaseModel

from doorstep.connectors.base import ConnectorContext, Message, SendResult
from doorstep.connectors.bus import CONTENT_TYPE, BusConnector, describe
from doorstep.core.spec.buses import RabbitMQConnectorSpec
from doorstep.errors import AddressNotAllowedError, ConnectorSpecError

__all__ = ["RabbitMQConnector", "ReturnedBodyFilter", "quiet_returned_bodies"]

_REFUSED = {403: "access refused", 404: "not found"}
"""Channel errors after which trying again cannot help (until someone changes the broker)."""


_RETURNED = "Published message was returned"
"""How pika's line about a returned message starts."""


class ReturnedBodyFilter(logging.Filter):
    """Rewrites pika's warning about a returned (unroutable) message without the message's
    properties and body, which hold the payload and its headers."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(record.msg, str) and record.msg.startswith(_RETURNED):
            method = args[2] if isinstance(args, tuple) and len(args) > 4 else None
            size = args[4] if isinstance(args, tuple) and len(args) > 4 else None
            record.msg = f"{_RETURNED} by the broker: method=%r; body_size=%s"
            record.args = (method, size)
        return True


def quiet_returned_bodies() -> None:
    """Put :class:`ReturnedBodyFilter` on pika's blocking connection logger (once)."""
    logger = logging.getLogger("pika.adapters.blocking_connection")
    if not any(isinstance(f, ReturnedBodyFilter) for f in logger.filters):
        logger.addFilter(ReturnedBodyFilter())


class _Link:
    """One thread's connection and confirming channel."""

    def __init__(self, parameters: pika.URLParameters) -> None:
        self.connection = pika.BlockingConnection(parameters)
        try:
            self.channel = self.connection.channel()
            self.channel.confirm_delivery()
        except BaseException:
            self.close()
            raise

    @property
    def open(self) -> bool:
        """Whether the connection still works: pending frames are read first, so a connection
        the broker closed while it sat idle (missed heartbeats, a restart) is found out here,
        not by the publish."""
        if not (self.connection.is_open and self.channel.is_open):
            return False
        try:
            self.connection.process_data_events(time_limit=0)
        except Exception:
            return False
        return bool(self.connection.is_open and self.channel.is_open)

    def abort(self) -> None:
        """Cut the connection from another thread: the blocked publish then fails at once."""
        transport = getattr(getattr(self.connection, "_impl", None), "_transport", None)
        sock = getattr(transport, "_sock", None)
        if isinstance(sock, socket.socket):
            sock.shutdown(socket.SHUT_RDWR)

    def close(self) -> None:
        with contextlib.suppress(Exception):
            if self.connection.is_open:
                self.connection.close()


class RabbitMQConnector(BusConnector[RabbitMQConnectorSpec]):
    """Publishes each action to ``exchange`` with the rendered ``routing_key``."""

    type: ClassVar[str] = "rabbitmq"
    spec_model: ClassVar[builtins.type[BaseModel]] = RabbitMQConnectorSpec
    ports: ClassVar[Mapping[str, int]] = {"amqp": 5672, "amqps": 5671}
    destination: ClassVar[str] = "routing_key"
    broker: ClassVar[str] = "RabbitMQ"

    def __init__(self, spec: RabbitMQConnectorSpec, context: ConnectorContext) -> None:
        super().__init__(spec, context)
        quiet_returned_bodies()
        try:
            self._parameters(spec.timeout)
        except Exception as error:  # pika refuses a query argument
            raise ConnectorSpecError(
                context.name, "url", self._redact(f"pika refuses the URL: {error}")
            ) from None
        self._local = threading.local()
        self._lock = threading.Lock()
        self._links: set[_Link] = set()

    def send(self, delivery: Message) -> SendResult:
        """Publish once and wait for the broker's confirm."""
        prepared = self._prepare(delivery)
        if isinstance(prepared, SendResult):
            return prepared
        message, timeout = prepared
        deadline = delivery.deadline
        try:
            link = self._link(timeout)
        except AddressNotAllowedError as error:  # only a change of the spec can help
            return SendResult("failed", self._redact(error.message))
        except Exception as error:
            return SendResult(
                "retry", self._redact(f"cannot connect to RabbitMQ: {describe(error)}")
            )
        properties = pika.BasicProperties(
            content_type=CONTENT_TYPE,
            delivery_mode=pika.DeliveryMode.Persistent,
            message_id=delivery.id,
            app_id="doorstep",
            type=delivery.action,
            timestamp=int(time.time()),
            headers=dict(message.headers),
        )
        where = f"exchange {self._spec.exchange!r}, routing key {message.destination!r}"
        watch = deadline.watch(link.abort) if deadline is not None else contextlib.nullcontext()
        try:
            with watch:
                link.channel.basic_publish(
                    self._spec.exchange,
                    message.destination,
                    message.body,
                    properties,
                    mandatory=self._spec.mandatory,
                )
        except pika.exceptions.UnroutableError:
            return SendResult(
                "retry", self._redact(f"no queue is bound for {where}: the broker returned it")
            )
        except pika.exceptions.NackError:
            return SendResult("retry", self._redact(f"the broker refused the message ({where})"))
        except Exception as error:
            self._drop(link)
            if deadline is not None and deadline.expired:
                return deadline.give_up("waiting for RabbitMQ's confirm")
            return self._failure(error, where)
        return SendResult("delivered", self._redact(f"confirmed by RabbitMQ: {where}"))

    def close(self) -> None:
        """Close every thread's connection."""
        with self._lock:
            links, self._links = self._links, set()
        for link in links:
            link.close()

    def _parameters(self, timeout: float) -> pika.URLParameters:
        parameters = pika.URLParameters(self._spec.url)
        parameters.socket_timeout = timeout
        parameters.stack_timeout = timeout
        parameters.blocked_connection_timeout = self._spec.timeout
        parameters.connection_attempts = 1
        parameters.retry_delay = 0
        return parameters

    def _link(self, timeout: float | None) -> _Link:
        link: _Link | None = getattr(self._local, "link", None)
        if link is not None and link.open:
            return link
        if link is not None:
            self._drop(link)
        self._guard.check()
        link = _Link(self._parameters(timeout or self._spec.timeout))
        with self._lock:
            self._links.add(link)
        self._local.link = link
        return link

    def _drop(self, link: _Link) -> None:
        with self._lock:
            self._links.discard(link)
        if getattr(self._local, "link", None) is link:
            self._local.link = None
        link.close()

    def _failure(self, error: Exception, where: str) -> SendResult:
        if isinstance(error, pika.exceptions.ChannelClosedByBroker):
            if error.reply_code in _REFUSED:
                return SendResult(
                    "failed",
                    self._redact(f"RabbitMQ refused {where}: {error.reply_text}"),
                )
        return SendResult(
            "retry", self._redact(f"publishing to RabbitMQ failed: {describe(error)}")
        )
