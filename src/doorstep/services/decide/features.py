"""Features looked up by entity id, merged under the values a request carries.

A decision request may carry only the entity id, or some inputs too. For the records of one call
(a micro-batch, or a batch request), every source is asked once, for all the entities that need
one of its fields (``WHERE id IN (...)``, one Redis pipeline, one Feast call); sources are asked
at the same time, each bounded by its ``timeout``. Then, record by record:

- a record that carries every required input is decided as it is: no source is asked, and its
  lineage is ``None`` (everything came with the request);
- otherwise every field it lacks is looked up, and a value the record carries wins over the
  looked-up one (a key present in the record counts, even with ``null``);
- an entity a needed source does not know is refused (rule ``entity_unknown``), never decided
  on missing values;
- features older than the source's ``max_age`` are refused (rule ``stale``) or flagged in the
  lineage, as the source's ``on_stale`` says;
- a source that fails or is slow fails the records that needed it
  (:class:`FeatureSourceUnavailableError`: 503 with ``Retry-After``), and nothing of them is
  recorded.

Each merged record gets its **lineage**: which fields came from the request and, per source,
which fields, when the source last updated them and how old they were.
"""

from __future__ import annotations

import math
import threading
import time
from collections import OrderedDict
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from doorstep.core.spec.models import FieldSpec, Spec
from doorstep.core.spec.sources import FeatureSourceSpec
from doorstep.errors import FeatureSourceUnavailableError, RecordError
from doorstep.plugins import open_source
from doorstep.sources.base import FeatureRow, FeatureSource

__all__ = ["Enriched", "FeatureLookup", "normalise_value", "source_lineage"]


@dataclass
class Enriched:
    """The records of one call after the lookups, position by position."""

    records: list[Any]
    """Each record merged with its looked-up values (records that needed nothing, or are not
    objects, as they came)."""
    lineage: list[dict[str, Any] | None]
    errors: dict[int, list[RecordError]] = field(default_factory=dict)
    """Position → error entries (``entity_unknown``, ``stale``): these records are refused."""
    failed: dict[int, FeatureSourceUnavailableError] = field(default_factory=dict)
    """Position → the failure of a source the record needed: its request answers 503."""
    looked_up: int = 0
    """Entities asked of the sources (cache hits excluded)."""


class _Cache:
    """Rows by entity id for ``ttl`` seconds, at most ``size`` of them (oldest out first)."""

    def __init__(self, ttl: float, size: int) -> None:
        self.ttl, self.size = ttl, size
        self._rows: OrderedDict[str, tuple[float, FeatureRow]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, ids: Sequence[str]) -> tuple[dict[str, FeatureRow], list[str]]:
        now = time.monotonic()
        hits: dict[str, FeatureRow] = {}
        misses: list[str] = []
        with self._lock:
            for entity_id in ids:
                entry = self._rows.get(entity_id)
                if entry is not None and entry[0] > now:
                    hits[entity_id] = entry[1]
                else:
                    misses.append(entity_id)
        return hits, misses

    def put(self, rows: dict[str, FeatureRow]) -> None:
        expires = time.monotonic() + self.ttl
        with self._lock:
            for entity_id, row in rows.items():
                self._rows[entity_id] = (expires, row)
                self._rows.move_to_end(entity_id)
            while len(self._rows) > self.size:
                self._rows.popitem(last=False)


class FeatureLookup:
    """The feature sources of one app, opened once (pooled) and shared by every call."""

    def __init__(self, spec: Spec, sources: Sequence[FeatureSource]) -> None:
        self.spec = spec
        self.sources = list(sources)
        self.id_field = spec.inputs.id
        self._settings = {s.name: spec.features[s.name] for s in self.sources}
        self._caches = {
            s.name: _Cache(cfg.cache_ttl, cfg.cache_size)
            for s in self.sources
            if (cfg := self._settings[s.name]).cache_ttl > 0
        }
        self._pool = ThreadPoolExecutor(
            max_workers=max(2, 2 * len(self.sources)), thread_name_prefix="doorstep-features"
        )

    @classmethod
    def open(cls, spec: Spec, base_dir: Any) -> FeatureLookup | None:
        """The lookup of an app whose spec has ``features``; ``None`` when it has none."""
        if not spec.features:
            return None
        fields = list(spec.inputs.fields)
        sources: list[FeatureSource] = []
        try:
            for name, source_spec in spec.features.items():
                sources.append(
                    open_source(
                        name, source_spec, id_field=spec.inputs.id, fields=fields, base_dir=base_dir
                    )
                )
        except BaseException:
            for source in sources:
                source.close()
            raise
        return cls(spec, sources)

    def close(self) -> None:
        """Close the sources, after the lookups still running have ended (a lookup that timed
        out for its caller may still hold a connection; each is bounded by its source's
        ``timeout``). Closing under a running lookup would strand its connection."""
        self._pool.shutdown(wait=True, cancel_futures=True)
        for source in self.sources:
            source.close()

    def source(self, name: str) -> FeatureSource:
        for source in self.sources:
            if source.name == name:
                return source
        raise KeyError(name)

    def enrich(self, records: Sequence[Any], *, now: datetime | None = None) -> Enriched:
        """Look up what ``records`` lack, in one round trip per source, and merge it."""
        now = now or datetime.now(UTC)
        needs: list[dict[str, list[str]]] = []  # per record: source → the fields it must give
        wanted: dict[str, dict[str, None]] = {s.name: {} for s in self.sources}
        required = [n for n, f in self.spec.inputs.fields.items() if f.required]
        for record in records:
            need: dict[str, list[str]] = {}
            entity = record.get(self.id_field) if isinstance(record, dict) else None
            complete = isinstance(record, dict) and all(n in record for n in required)
            if isinstance(entity, str) and entity and not complete:
                for source in self.sources:
                    missing = [f for f in source.fields if f not in record]
                    if missing:
                        need[source.name] = missing
                        wanted[source.name][entity] = None
            needs.append(need)
        found, failures, asked = self._lookup_all({n: list(ids) for n, ids in wanted.items()})
        result = Enriched(records=list(records), lineage=[None] * len(records), looked_up=asked)
        fields = self.spec.inputs.fields
        for position, (record, need) in enumerate(zip(records, needs, strict=True)):
            if not isinstance(record, dict):
                continue
            if not need:  # complete as sent: nothing looked up, nothing to trace
                continue
            failure = next((failures[n] for n in need if n in failures), None)
            if failure is not None:
                result.failed[position] = failure
                continue
            entity = record[self.id_field]
            merged = dict(record)
            sources: dict[str, Any] = {}
            errors: list[RecordError] = []
            for name, missing in need.items():
                row = found[name].get(entity)
                if row is None:
                    errors.append(self._unknown(position, entity, name))
                    continue
                for name_ in missing:
                    merged[name_] = normalise_value(row.values.get(name_), fields[name_])
                entry, stale_error = source_lineage(
                    name, self._settings[name], entity, missing, row, now, record=position
                )
                sources[name] = entry
                if stale_error is not None:
                    errors.append(stale_error)
            if errors:
                result.errors[position] = errors
                continue
            result.records[position] = merged
            result.lineage[position] = {
                "request": _contract_keys(record, fields),
                "sources": sources,
            }
        return result

    # internals

    def _lookup_all(
        self, wanted: dict[str, list[str]]
    ) -> tuple[dict[str, dict[str, FeatureRow]], dict[str, FeatureSourceUnavailableError], int]:
        found: dict[str, dict[str, FeatureRow]] = {}
        failures: dict[str, FeatureSourceUnavailableError] = {}
        futures: dict[str, tuple[FeatureSource, Future[dict[str, FeatureRow]], list[str]]] = {}
        asked = 0
        for source in self.sources:
            ids = wanted.get(source.name) or []
            cache = self._caches.get(source.name)
            hits: dict[str, FeatureRow] = {}
            if cache is not None and ids:
                hits, ids = cache.get(ids)
            found[source.name] = hits
            if ids:
                asked += len(ids)
                futures[source.name] = (source, self._pool.submit(source.lookup, ids), ids)
        started = time.monotonic()
        for name, (source, future, _ids) in futures.items():
            left = source.timeout - (time.monotonic() - started)
            try:
                rows = future.result(timeout=max(left, 0.0))
            except FutureTimeout:
                future.cancel()
                failures[name] = FeatureSourceUnavailableError(
                    name,
                    f"feature source {name!r} ({source.kind}) did not answer within "
                    f"{source.timeout:g} s; nothing was decided, retry later",
                )
                continue
            except FeatureSourceUnavailableError as error:
                failures[name] = error
                continue
            cache = self._caches.get(name)
            if cache is not None:
                cache.put(rows)
            found[name].update(rows)
        return found, failures, asked

    def _unknown(self, position: int, entity: str, source: str) -> RecordError:
        return RecordError(
            position,
            entity,
            self.id_field,
            "entity_unknown",
            f"{self.id_field} {entity!r} is unknown to feature source {source!r}; send its "
            "inputs in the request, or check the id",
        )


def source_lineage(
    source: str,
    settings: FeatureSourceSpec | None,
    entity: str,
    fields: list[str],
    row: FeatureRow,
    now: datetime,
    *,
    record: int | None = None,
) -> tuple[dict[str, Any], RecordError | None]:
    """What a record's lineage says of one source (``fields``, ``observed_at``,
    ``age_seconds`` and, when the source has a ``max_age``, ``stale``), and the error that
    refuses the record when its features are stale and the source says ``on_stale: refuse``.
    Online lookups and batch runs judge a row the same way, with this."""
    age = None if row.observed_at is None else (now - row.observed_at).total_seconds()
    limit = None if settings is None else settings.max_age_delta
    stale = limit is not None and (age is None or age > limit.total_seconds())
    entry: dict[str, Any] = {
        "fields": fields,
        "observed_at": None if row.observed_at is None else _iso(row.observed_at),
        "age_seconds": None if age is None else round(age, 3),
    }
    if limit is not None:
        entry["stale"] = stale
    if settings is None or not stale or settings.on_stale == "flag":
        return entry, None
    when = "no update time" if age is None else f"{_duration(age)} old"
    error = RecordError(
        record,
        entity,
        fields[0] if fields else None,
        "stale",
        f"features of {entity!r} from source {source!r} ({', '.join(fields)}) are {when}; "
        f"max_age is {settings.max_age}",
    )
    return entry, error


def normalise_value(value: Any, spec: FieldSpec) -> Any:
    """A source's value in the JSON type the contract expects where it converts cleanly
    (``Decimal`` → float, ``"3"`` → 3, ``1`` → true for a bool); anything else as it is, for
    the contract to judge and name."""
    if value is None:
        return None
    if isinstance(value, bytes):
        value = value.decode()
    kind = spec.type
    try:
        if kind == "int":
            if isinstance(value, bool):
                return value
            if isinstance(value, int):
                return value
            number = float(value)
            return int(number) if number.is_integer() else value
        if kind == "float":
            if isinstance(value, bool):
                return value
            number = float(value)
            return number if math.isfinite(number) else None
        if kind == "bool":
            if isinstance(value, bool):
                return value
            text = str(value).strip().lower()
            if text in ("1", "true", "t", "yes", "y"):
                return True
            if text in ("0", "false", "f", "no", "n"):
                return False
            return value
        if kind in ("category", "string"):
            return value if isinstance(value, str) else str(value)
        if kind == "datetime" and isinstance(value, datetime):
            return _iso(value)
    except (TypeError, ValueError, OverflowError):
        return value
    return value


def _contract_keys(record: dict[str, Any], fields: dict[str, FieldSpec]) -> list[str]:
    return [name for name in fields if name in record]


def _iso(moment: datetime) -> str:
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).isoformat(timespec="seconds")


def _duration(seconds: float) -> str:
    if seconds >= 86_400:
        return f"{seconds / 86_400:.1f} days"
    if seconds >= 3_600:
        return f"{seconds / 3_600:.1f} hours"
    return f"{seconds / 60:.0f} minutes"
