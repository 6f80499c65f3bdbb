"""A Redis Streams source: a consumer group read with ``XREADGROUP``, entries acknowledged with
``XACK`` after their decisions are committed.

An entry's ``body`` field holds the JSON message; an entry without one is itself the record (its
fields, as text). The consumer first reads its own pending entries (delivered before a crash,
never acknowledged), then new ones; entries left pending by a consumer that stopped are claimed
(``XAUTOCLAIM``) once idle for ``claim_after`` seconds. Dead letters are ``XADD``-ed to the
``dead_letter.stream`` key with a ``body`` field.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Sequence
from contextlib import AbstractContextManager
from typing import Any

import orjson

from doorstep.core.spec.streams import DeadLetterSpec, RedisStreamSourceSpec
from doorstep.errors import ConnectorSpecError
from doorstep.streams.base import StreamMessage, bus_errors, host_of

__all__ = ["RedisStreamSource"]


class RedisStreamSource:
    type = "redis"
    kind = "redis"
    spec_model = RedisStreamSourceSpec

    def __init__(
        self, name: str, spec: RedisStreamSourceSpec, *, dead_letter: DeadLetterSpec | None
    ) -> None:
        try:
            import redis
        except ImportError:
            raise ConnectorSpecError(
                name, "type", "the Redis client is not installed: pip install 'doorstep[streams]'"
            ) from None
        self.name, self.spec, self._dead = name, spec, dead_letter
        self.consumer = f"doorstep-{socket.gethostname()}-{name}"
        self._errors: tuple[type[BaseException], ...] = (redis.RedisError, OSError)
        try:
            self.client: Any = redis.Redis.from_url(spec.url, socket_connect_timeout=5)
        except ValueError as error:
            raise ConnectorSpecError(name, "url", f"not a Redis URL: {error}") from None
        self._own_pending = True  # read what this consumer left unacknowledged first
        self._claimed_at = 0.0
        with self._guard("create the consumer group"):
            try:
                self.client.xgroup_create(spec.stream, spec.group, id="0", mkstream=True)
            except redis.ResponseError as error:
                if "BUSYGROUP" not in str(error):
                    raise

    @classmethod
    def from_spec(cls, name: str, spec: Any, *, dead_letter: Any, batch: int) -> RedisStreamSource:
        return cls(name, spec, dead_letter=dead_letter)

    def _guard(self, doing: str) -> AbstractContextManager[None]:
        return bus_errors(self.name, f"Redis at {host_of(self.spec.url)}", doing, self._errors)

    def fetch(self, limit: int, wait: float) -> list[StreamMessage]:
        spec = self.spec
        with self._guard("read"):
            if self._own_pending:
                found = self.client.xreadgroup(
                    spec.group, self.consumer, {spec.stream: "0"}, count=limit
                )
                entries = found[0][1] if found else []
                if entries:
                    return self._messages(entries, redelivered=True)
                self._own_pending = False
            now = time.monotonic()
            if now - self._claimed_at >= spec.claim_after / 2:
                self._claimed_at = now
                claimed = self.client.xautoclaim(
                    spec.stream,
                    spec.group,
                    self.consumer,
                    min_idle_time=int(spec.claim_after * 1000),
                    count=limit,
                )
                if claimed[1]:
                    return self._messages(claimed[1], redelivered=True)
            found = self.client.xreadgroup(
                spec.group,
                self.consumer,
                {spec.stream: ">"},
                count=limit,
                block=max(1, int(wait * 1000)),
            )
        return self._messages(found[0][1] if found else [], redelivered=False)

    def _messages(self, entries: list[Any], *, redelivered: bool) -> list[StreamMessage]:
        out: list[StreamMessage] = []
        for entry_id, fields in entries:
            ident = entry_id.decode() if isinstance(entry_id, bytes) else str(entry_id)
            if fields is None:  # trimmed from the stream while pending: nothing left to decide
                out.append(StreamMessage(b"", ident, self.spec.stream, ident, True, ident))
                continue
            body = fields.get(b"body")
            if body is None:
                body = orjson.dumps({k.decode(): v.decode() for k, v in fields.items()})
            out.append(StreamMessage(body, ident, self.spec.stream, ident, redelivered, ident))
        return out

    def ack(self, messages: Sequence[StreamMessage]) -> None:
        if not messages:
            return
        with self._guard("acknowledge"):
            self.client.xack(self.spec.stream, self.spec.group, *[m.handle for m in messages])

    def dead_letter(self, message: StreamMessage, body: bytes) -> None:
        if self._dead is None or self._dead.stream is None:
            return
        with self._guard("publish a dead letter"):
            self.client.xadd(self._dead.stream, {"body": body})

    def lag(self) -> int | None:
        with self._guard("read the group's lag"):
            for group in self.client.xinfo_groups(self.spec.stream):
                name = group.get("name")
                if (name.decode() if isinstance(name, bytes) else name) == self.spec.group:
                    lag = group.get("lag")
                    return None if lag is None else int(lag)
        return None

    def close(self) -> None:
        try:
            self.client.close()
        except self._errors:
            pass
