"""A Redis feature source: one hash per entity (``HGETALL customer:{id}``), all the ids of a
lookup in one pipeline (one round trip).

Hash values are text; :mod:`doorstep.services.decide.features` types them by the input contract. The
client keeps a blocking pool of connections; connecting, each read and waiting for a pooled
connection are bounded by the source's ``timeout``.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from doorstep.core.spec.sources import RedisSourceSpec, source_columns
from doorstep.errors import (
    ConnectorSpecError,
    EntityIdRefusedError,
    FeatureSourceUnavailableError,
)
from doorstep.sources.base import FeatureRow, check_host, observed_time

__all__ = ["RedisFeatureSource"]


class RedisFeatureSource:
    kind = "redis"

    def __init__(self, name: str, spec: RedisSourceSpec, *, fields: list[str]) -> None:
        try:
            import redis
        except ImportError:
            raise ConnectorSpecError(
                name, "type", "the Redis client is not installed: pip install 'doorstep[redis]'"
            ) from None
        self.name, self.spec, self.timeout = name, spec, spec.timeout
        self.columns = source_columns(spec, fields)
        self.fields = tuple(self.columns)
        self._errors: tuple[type[BaseException], ...] = (redis.RedisError, OSError)
        try:
            pool = redis.BlockingConnectionPool.from_url(
                spec.url,
                max_connections=spec.pool_size,
                timeout=spec.timeout,
                socket_timeout=spec.timeout,
                socket_connect_timeout=spec.timeout,
                decode_responses=True,
            )
        except ValueError as error:
            raise ConnectorSpecError(name, "url", f"not a Redis URL: {error}") from None
        self._password = str(pool.connection_kwargs.get("password") or "")
        self.client: Any = redis.Redis(connection_pool=pool)

    @classmethod
    def from_spec(
        cls, name: str, spec: Any, *, id_field: str, fields: list[str], base_dir: Path
    ) -> RedisFeatureSource:
        """The source of a ``type: redis`` entry of the spec's ``features``."""
        if not isinstance(spec, RedisSourceSpec):
            raise TypeError(
                "The 'spec' parameter of RedisFeatureSource.from_spec must be a RedisSourceSpec. "
                f"Got {type(spec).__name__} instead."
            )
        return cls(name, spec, fields=fields)

    def lookup(self, ids: Sequence[str]) -> dict[str, FeatureRow]:
        if not ids:
            return {}
        template = self.spec.key
        try:
            pipe = self.client.pipeline(transaction=False)
            for entity_id in ids:
                pipe.hgetall(template.replace("{id}", entity_id))
            hashes = pipe.execute(raise_on_error=False)
        except self._errors as error:
            text = str(error)
            if self._password:
                text = text.replace(self._password, "***")
            raise FeatureSourceUnavailableError(
                self.name, f"feature source {self.name!r} (redis) failed: {text}; retry later"
            ) from None
        refused = [(i, h) for i, h in zip(ids, hashes, strict=True) if isinstance(h, Exception)]
        if refused:  # e.g. WRONGTYPE: one id's key holds no hash; the others are fine
            entity_id, problem = refused[0]
            raise EntityIdRefusedError(
                self.name,
                f"feature source {self.name!r} (redis) refused the key of {entity_id!r}: {problem}",
            )
        found: dict[str, FeatureRow] = {}
        stamp = self.spec.observed_at
        for entity_id, values in zip(ids, hashes, strict=True):
            if not values:
                continue
            row = {field: values.get(column) for field, column in self.columns.items()}
            found[entity_id] = FeatureRow(row, observed_time(values.get(stamp)) if stamp else None)
        return found

    def probe(self) -> None:
        """PING the server: a host that does not exist can never work; one that does not
        answer now is unavailable."""
        from urllib.parse import urlsplit

        check_host(self.name, "url", urlsplit(self.spec.url).hostname)
        try:
            self.client.ping()
        except self._errors as error:
            text = str(error)
            if self._password:
                text = text.replace(self._password, "***")
            raise FeatureSourceUnavailableError(
                self.name, f"feature source {self.name!r} (redis) does not answer: {text}"
            ) from None

    def close(self) -> None:
        self.client.close()
        self.client.connection_pool.disconnect()
