"""The Redis Streams connector: add each action to a stream (``XADD``), ``delivered`` once
Redis has added it.

The entry's fields are ``body`` (the JSON of :mod:`doorstep.connectors.bus`), ``content-type``
and the bus headers (``doorstep-delivery-id`` and the others). A resend adds no second entry:
one Lua script, atomic on the server, adds the entry only when the delivery's id is not yet
remembered in ``{<stream>}:doorstep-delivery:<id>`` and then remembers it (with the entry's id)
for ``dedupe_window`` seconds. The guard key shares the stream's hash slot, so the script also
runs on a Redis Cluster.

The client is redis-py's, whose connection pool is shared by the worker threads.
"""

from __future__ import annotations

import builtins
import contextlib
from collections.abc import Mapping
from typing import Any, ClassVar

import redis
import redis.exceptions
from pydantic import BaseModel
from redis.backoff import NoBackoff
from redis.retry import Retry

from doorstep.connectors.base import ConnectorContext, Message, SendResult
from doorstep.connectors.bus import CONTENT_TYPE, BrokerGuard, BusConnector, describe
from doorstep.core.spec.buses import RedisStreamConnectorSpec
from doorstep.errors import AddressNotAllowedError

__all__ = ["RedisStreamConnector", "guard_key"]

ADD_ONCE = """
local seen = redis.call('GET', KEYS[2])
if seen then return {0, seen} end
local id
if ARGV[2] ~= '' then
  id = redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[2], '*', unpack(ARGV, 3))
else
  id = redis.call('XADD', KEYS[1], '*', unpack(ARGV, 3))
end
redis.call('SET', KEYS[2], id, 'PX', ARGV[1])
return {1, id}
"""
"""KEYS: the stream, the guard key; ARGV: the guard's lifetime (ms), MAXLEN ('' for none),
then the entry's fields and values."""
_REFUSED = ("WRONGTYPE", "NOPERM", "NOAUTH", "WRONGPASS")
"""Errors after which trying again cannot help."""


def _empty(stream: str) -> str | None:
    return "the stream's key is empty" if not stream else None


def guard_key(stream: str, delivery_id: str) -> str:
    """The key remembering that ``delivery_id`` was added to ``stream``."""
    return f"{{{stream}}}:doorstep-delivery:{delivery_id}"


class RedisStreamConnector(BusConnector[RedisStreamConnectorSpec]):
    """Adds each action to the rendered ``stream`` once."""

    type: ClassVar[str] = "redis"
    spec_model: ClassVar[builtins.type[BaseModel]] = RedisStreamConnectorSpec
    ports: ClassVar[Mapping[str, int]] = {"redis": 6379, "rediss": 6379}
    destination: ClassVar[str] = "stream"
    broker: ClassVar[str] = "Redis"
    _destination_problem = staticmethod(_empty)

    def __init__(self, spec: RedisStreamConnectorSpec, context: ConnectorContext) -> None:
        super().__init__(spec, context)
        self._client: Any = redis.Redis.from_url(
            spec.url,
            socket_timeout=spec.timeout,
            socket_connect_timeout=spec.timeout,
            # a connection that broke while idle is replaced at once: the script adds once
            retry=Retry(NoBackoff(), 1, supported_errors=(redis.exceptions.ConnectionError,)),
            retry_on_timeout=False,
            health_check_interval=30,
        )
        self._add_once = self._client.register_script(ADD_ONCE)
        pool = self._client.connection_pool
        pool.connection_class = _guarded(pool.connection_class, self._guard)

    def send(self, delivery: Message) -> SendResult:
        """Add the entry unless this delivery was added already."""
        prepared = self._prepare(delivery)
        if isinstance(prepared, SendResult):
            return prepared
        message, _ = prepared
        deadline = delivery.deadline
        fields: list[str | bytes] = ["body", message.body, "content-type", CONTENT_TYPE]
        for name, value in message.headers.items():
            fields += [name, value]
        window = str(int(self._spec.dedupe_window * 1000))
        maxlen = "" if self._spec.maxlen is None else str(self._spec.maxlen)
        stream = message.destination
        abort = self._abort
        watch = deadline.watch(abort) if deadline is not None else contextlib.nullcontext()
        try:
            with watch:
                added, entry = self._add_once(
                    keys=[stream, guard_key(stream, delivery.id)], args=[window, maxlen, *fields]
                )
        except AddressNotAllowedError as error:  # only a change of the spec can help
            return SendResult("failed", self._redact(error.message))
        except redis.exceptions.ResponseError as error:
            detail = self._redact(f"Redis refused XADD to {stream!r}: {error}")
            if str(error).startswith(_REFUSED):
                return SendResult("failed", detail)
            return SendResult("retry", detail)
        except Exception as error:
            if deadline is not None and deadline.expired:
                return deadline.give_up("waiting for Redis")
            return SendResult("retry", self._redact(f"adding to Redis failed: {describe(error)}"))
        entry_id = entry.decode() if isinstance(entry, bytes) else str(entry)
        if not added:
            return SendResult(
                "delivered", f"already in stream {stream!r} as entry {entry_id} (a resend)"
            )
        return SendResult("delivered", f"added to stream {stream!r} as entry {entry_id}")

    def close(self) -> None:
        """Close the pooled connections."""
        with contextlib.suppress(Exception):
            self._client.close()
            self._client.connection_pool.disconnect()

    def _abort(self) -> None:
        """Cut the pooled connections from another thread: a blocked call then fails."""
        self._client.connection_pool.disconnect(inuse_connections=True)


def _guarded(base: Any, guard: BrokerGuard) -> Any:
    """``base`` (redis-py's connection class for the URL's scheme) checking the network guard
    before each new connection."""

    def _connect(self: Any) -> Any:
        guard.check()
        return base._connect(self)

    return type(f"Guarded{base.__name__}", (base,), {"_connect": _connect})
