"""Features looked up by entity id, merged under the values a request carries.

A decision request may carry only the entity id, or some inputs too. For the records of one call
(a micro-batch, or a batch request), every source is asked once, for all the entities that need
one of its fields (``WHERE id IN (...)``, one Redis pipeline, one Feast call); sources are asked
at the same time, each bounded by its ``timeout``. Then, record by record:

- a record that carries every required input is decided as it is: no source is asked, and its
  lineage says every field came with the request (``{"request": [...], "sources": {}}``);
- the entity id is checked before any source is asked (:mod:`doorstep.sources.ids`: text or
  integer, printable, at most 256 characters, an integer within 64 bits for a source whose
  ``id_type`` is ``int``); a bad id refuses its own record (rule ``id_invalid``), never the
  others of its micro-batch;
- otherwise every field it lacks is looked up, and a value the record carries wins over the
  looked-up one (a key present in the record counts, even with ``null``);
- an entity a needed source does not know is refused (rule ``entity_unknown``), never decided
  on missing values; an entity it holds two rows for is refused too (``entity_ambiguous``);
- features older than the source's ``max_age`` (or dated more than five minutes in the future)
  are refused (rule ``stale``) or flagged in the lineage, as the source's ``on_stale`` says;
- a source that fails or is slow fails the records that needed it
  (:class:`FeatureSourceUnavailableError`: 503 with ``Retry-After``), and nothing of them is
  recorded.

Each merged record gets its **lineage**: which fields came from the request and, per source,
which fields, when the source last updated them and how old they were.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from doorstep.core.spec.models import Spec
from doorstep.errors import FeatureSourceUnavailableError, RecordError
from doorstep.plugins import open_source
from doorstep.services.decide.calls import RowCache, Timed, timed
from doorstep.services.decide.lineage import normalise_value, request_fields, source_lineage
from doorstep.sources.base import FeatureRow, FeatureSource
from doorstep.sources.ids import MAX_ID_LENGTH, entity_text, source_id

__all__ = ["Enriched", "FeatureLookup", "LookupObserver", "normalise_value", "source_lineage"]
# normalise_value and source_lineage live in doorstep.services.decide.lineage; they are named
# here too for the callers that import them from this module


logger = logging.getLogger("doorstep.features")

WARN_EVERY = 60.0
"""Seconds between two warnings of a source that stays unavailable (one on each change)."""


class LookupObserver(Protocol):
    """What a lookup reports, for metrics (the web layer's Prometheus counters)."""

    def asked(self, source: str, entities: int, cache_hits: int) -> None:
        """``entities`` ids were needed of ``source`` by one call; its cache answered
        ``cache_hits`` of them (the source was called for the others)."""
        ...

    def looked_up(self, source: str, outcome: str, seconds: float) -> None:
        """One call of ``source``: ``outcome`` is ``ok``, ``unavailable`` or ``timeout``;
        ``seconds`` the time it took (its ``timeout`` when it did not answer)."""
        ...

    def refused(self, rule: str, records: int) -> None:
        """``records`` refused with ``rule`` (``id_invalid``, ``entity_unknown``,
        ``entity_ambiguous``, ``stale``)."""
        ...


@dataclass
class Enriched:
    """The records of one call after the lookups, position by position."""

    records: list[Any]
    """Each record merged with its looked-up values (records that needed nothing, or are not
    objects, as they came)."""
    lineage: list[dict[str, Any] | None]
    errors: dict[int, list[RecordError]] = field(default_factory=dict)
    """Position → error entries (``id_invalid``, ``entity_unknown``, ``entity_ambiguous``,
    ``stale``): these records are refused."""
    failed: dict[int, FeatureSourceUnavailableError] = field(default_factory=dict)
    """Position → the failure of a source the record needed: its request answers 503."""
    looked_up: int = 0
    """Entities asked of the sources (cache hits excluded)."""


class FeatureLookup:
    """The feature sources of one app, opened once (pooled) and shared by every call."""

    def __init__(
        self,
        spec: Spec,
        sources: Sequence[FeatureSource],
        *,
        observer: LookupObserver | None = None,
    ) -> None:
        self.spec = spec
        self.observer = observer
        """Told of every source's lookups and of the records refused (metrics)."""
        self._down: dict[str, float] = {}  # source → when its unavailability was last logged
        self.sources = list(sources)
        self.id_field = spec.inputs.id
        self._settings = {s.name: spec.features[s.name] for s in self.sources}
        self._caches = {
            s.name: RowCache(cfg.cache_ttl, cfg.cache_size)
            for s in self.sources
            if (cfg := self._settings[s.name]).cache_ttl > 0
        }
        self._required = [n for n, f in spec.inputs.fields.items() if f.required]
        self._id_types = {
            s.name: str(
                getattr(s, "id_type", None)
                or getattr(self._settings[s.name], "id_type", None)
                or "string"
            )
            for s in self.sources
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
        plans = [self._plan(position, record) for position, record in enumerate(records)]
        wanted: dict[str, dict[str, None]] = {s.name: {} for s in self.sources}
        for plan in plans:
            for name, source_key in plan.keys.items():
                wanted[name][source_key] = None
        found, failures, refused, asked = self._lookup_all(
            {n: list(ids) for n, ids in wanted.items()}
        )
        result = Enriched(records=list(records), lineage=[None] * len(records), looked_up=asked)
        fields = self.spec.inputs.fields
        for position, (record, plan) in enumerate(zip(records, plans, strict=True)):
            if not isinstance(record, dict):
                continue
            if plan.errors:
                result.errors[position] = plan.errors
                continue
            if not plan.need:  # complete as sent: every input came with the request
                result.lineage[position] = {
                    "request": request_fields(record, fields),
                    "sources": {},
                }
                continue
            failure = next((failures[n] for n in plan.need if n in failures), None)
            if failure is not None:
                result.failed[position] = failure
                continue
            assert plan.entity is not None  # a record that needs a source has an id
            merged = dict(record)
            sources: dict[str, Any] = {}
            errors: list[RecordError] = []
            for name, missing in plan.need.items():
                key = plan.keys[name]
                if key in refused.get(name, ()):
                    message = f"is refused by feature source {name!r}: {refused[name][key]}"
                    errors.append(self._invalid(position, plan.entity, message))
                    continue
                row = found[name].get(key)
                if row is None:
                    errors.append(self._unknown(position, plan.entity, name))
                    continue
                if row.rows > 1:
                    errors.append(self._ambiguous(position, plan.entity, name, row.rows))
                    continue
                for name_ in missing:
                    merged[name_] = normalise_value(row.values.get(name_), fields[name_])
                entry, stale_error = source_lineage(
                    name, self._settings[name], plan.entity, missing, row, now, record=position
                )
                sources[name] = entry
                if stale_error is not None:
                    errors.append(stale_error)
            if errors:
                result.errors[position] = errors
                continue
            result.records[position] = merged
            result.lineage[position] = {
                "request": request_fields(record, fields),
                "sources": sources,
            }
        if self.observer is not None:
            rules = Counter(
                r for errors in result.errors.values() for r in {e.rule for e in errors}
            )
            for rule, count in rules.items():
                self.observer.refused(rule, count)
        return result

    # internals

    def _plan(self, position: int, record: Any) -> _Plan:
        """What ``record`` needs of each source, under which id; or why it cannot be asked."""
        plan = _Plan()
        if not isinstance(record, dict):
            return plan
        if all(n in record for n in self._required):
            return plan
        entity = record.get(self.id_field)
        if entity is None or entity == "":
            return plan  # no id: the input contract refuses the record, naming the field
        try:
            plan.entity = entity_text(entity)
        except ValueError as error:
            plan.entity = entity[: MAX_ID_LENGTH + 1] if isinstance(entity, str) else None
            plan.errors.append(self._invalid(position, plan.entity, str(error)))
            return plan
        for source in self.sources:
            missing = [f for f in source.fields if f not in record]
            if not missing:
                continue
            try:
                plan.keys[source.name] = source_id(plan.entity, self._id_types[source.name])
            except ValueError as error:
                message = f"{error} (feature source {source.name!r})"
                plan.errors.append(self._invalid(position, plan.entity, message))
                continue
            plan.need[source.name] = missing
        if plan.errors:  # refused already: no source is asked for it
            plan.keys.clear()
        return plan

    def _lookup_all(
        self, wanted: dict[str, list[str]]
    ) -> tuple[
        dict[str, dict[str, FeatureRow]],
        dict[str, FeatureSourceUnavailableError],
        dict[str, dict[str, str]],
        int,
    ]:
        found: dict[str, dict[str, FeatureRow]] = {}
        failures: dict[str, FeatureSourceUnavailableError] = {}
        refused: dict[str, dict[str, str]] = {}
        futures: dict[str, tuple[FeatureSource, Future[Timed]]] = {}
        asked = 0
        for source in self.sources:
            ids = wanted.get(source.name) or []
            cache = self._caches.get(source.name)
            hits: dict[str, FeatureRow] = {}
            if cache is not None and ids:
                hits, ids = cache.get(ids)
            found[source.name] = hits
            if self.observer is not None and (ids or hits):
                self.observer.asked(source.name, len(ids) + len(hits), len(hits))
            if ids:
                asked += len(ids)
                futures[source.name] = (source, self._pool.submit(timed, source, ids))
        started = time.monotonic()
        for name, (source, future) in futures.items():
            left = source.timeout - (time.monotonic() - started)
            try:
                (rows, bad), seconds = future.result(timeout=max(left, 0.0))
            except FutureTimeout:
                future.cancel()
                failures[name] = FeatureSourceUnavailableError(
                    name,
                    f"feature source {name!r} ({source.kind}) did not answer within "
                    f"{source.timeout:g} s; nothing was decided, retry later",
                )
                self._observe(name, "timeout", source.timeout, failures[name])
                continue
            except FeatureSourceUnavailableError as error:
                failures[name] = error
            except Exception as error:  # noqa: BLE001 - a plugin's own error is no 500 either
                failures[name] = FeatureSourceUnavailableError(
                    name,
                    f"feature source {name!r} ({source.kind}) failed: "
                    f"{type(error).__name__}: {error}; retry later",
                )
            if name in failures:
                seconds = time.monotonic() - started
                self._observe(name, "unavailable", seconds, failures[name])
                continue
            self._observe(name, "ok", seconds, None)
            cache = self._caches.get(name)
            if cache is not None:
                cache.put(rows)
            found[name].update(rows)
            if bad:
                refused[name] = bad
        return found, failures, refused, asked

    def _observe(
        self,
        source: str,
        outcome: str,
        seconds: float,
        failure: FeatureSourceUnavailableError | None,
    ) -> None:
        """Tell the observer, and log a source that becomes unavailable (again once a
        minute while it stays so) and one that answers again."""
        if self.observer is not None:
            self.observer.looked_up(source, outcome, seconds)
        app = self.spec.app.name
        if failure is None:
            if self._down.pop(source, None) is not None:
                logger.info("feature source %r of app %r answers again", source, app)
            return
        now = time.monotonic()
        last = self._down.get(source)
        if last is None or now - last >= WARN_EVERY:
            self._down[source] = now
            logger.warning(
                "feature source %r of app %r is unavailable (%s): %s",
                source,
                app,
                outcome,
                failure.message,
            )

    def _unknown(self, position: int, entity: str | None, source: str) -> RecordError:
        return RecordError(
            position,
            entity,
            self.id_field,
            "entity_unknown",
            f"{self.id_field} {entity!r} is unknown to feature source {source!r}; send its "
            "inputs in the request, or check the id",
        )

    def _ambiguous(self, position: int, entity: str | None, source: str, rows: int) -> RecordError:
        return RecordError(
            position,
            entity,
            self.id_field,
            "entity_ambiguous",
            f"{self.id_field} {entity!r} has {rows} rows in feature source {source!r}, which "
            "cannot tell which one is meant; make the source's key unique, or send the inputs "
            "in the request",
        )

    def _invalid(self, position: int, entity: str | None, problem: str) -> RecordError:
        shown = entity if entity is None or len(entity) <= 40 else entity[:40] + "…"
        return RecordError(
            position,
            entity,
            self.id_field,
            "id_invalid",
            f"{self.id_field} {shown!r} cannot be looked up: the id {problem}",
        )


@dataclass
class _Plan:
    """One record's lookups: the entity's text, each source's fields it lacks and the id that
    source is asked for, or the errors that refuse it before any source is asked."""

    entity: str | None = None
    need: dict[str, list[str]] = field(default_factory=dict)
    keys: dict[str, str] = field(default_factory=dict)
    errors: list[RecordError] = field(default_factory=list)
