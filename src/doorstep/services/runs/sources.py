"""Batch runs: decide every entity of a SQL feature source, a chunk at a time, resumably.

The source is read in entity id order with a server-side cursor (constant memory). Each chunk
goes through the one decision path (:func:`decide_batch`); its decisions, their deliveries (when
the run delivers) and the run's new checkpoint are committed in one transaction, fenced by the
run's lease token. A run that crashed is taken over after its lease expires and continues after
its checkpoint, so each entity of a run is decided exactly once. An entity id the source holds
more than one row for is refused, every row of it (``entity_ambiguous``): never decided twice
(see :mod:`doorstep.services.runs.entities`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from doorstep.core.contract import frame_from_records
from doorstep.core.spec.sources import FeatureSourceSpec
from doorstep.errors import ConflictError, DoorstepError, RecordError
from doorstep.ids import derived_id
from doorstep.services.apps.loading import LoadedApp
from doorstep.services.decide.batch import decide_batch
from doorstep.services.decide.features import normalise_value, source_lineage
from doorstep.services.decide.recording import record_batch
from doorstep.services.decide.rejects import kept_rejects
from doorstep.services.deliver.actions import deliveries_for
from doorstep.services.runs.entities import ambiguous_rows, whole_entities
from doorstep.sources.base import FeatureRow, ScanSource
from doorstep.store.protocols import RecordRequest, RunStore
from doorstep.store.runs import ChunkProgress, RunInfo, RunLease
from doorstep.store.shadow_records import ShadowDecision
from doorstep.types import Decision

__all__ = [
    "BY_HAND_LEASE_SECONDS",
    "MAX_CHUNK_ROWS",
    "RunOptions",
    "drive_run",
    "execute_run",
    "run_by_hand",
    "run_decision_ids",
]

logger = logging.getLogger("doorstep.runs")

MAX_CHUNK_ROWS = 10_000
"""Most entities a run by hand decides per transaction."""
BY_HAND_LEASE_SECONDS = 600.0
"""How long a run by hand holds its run between chunks."""


@dataclass(frozen=True)
class RunOptions:
    chunk_rows: int = 1_000
    deliver: bool = True
    explain: bool | None = None
    lease_seconds: float = 120.0
    actor: str = "doorstep run"
    query: str | None = None
    """The SELECT of a run by hand from ``--url``/``--query`` (its URL is never stored: it may
    hold a password)."""

    def stored(self) -> dict[str, Any]:
        """What a run keeps of its options, so that a resume goes on as it started."""
        return {
            "deliver": self.deliver,
            "explain": self.explain,
            "chunk_rows": self.chunk_rows,
            "query": self.query,
        }


def run_decision_ids(run: RunInfo) -> Callable[[str], str]:
    """The id of the decision ``run`` makes for an entity, derived from the run and the entity
    id: a scheduled run's from its app, schedule and slot (a UUIDv7 of the slot's time), a run
    by hand's from its id (of its start). An entity decided again in the same run — a chunk
    recorded twice, a run resumed — gets the id it had, so the store keeps one decision and its
    deliveries keep their idempotency key (``webhook-id``)."""
    if run.schedule is not None and run.slot is not None:
        name = f"{run.app}\nschedule\n{run.schedule}\n{run.slot.isoformat()}\n"
        ms = int(run.slot.timestamp() * 1000)
    else:
        name = f"{run.app}\nrun\n{run.id}\n"
        ms = int(run.started_at.timestamp() * 1000)
    return lambda entity: derived_id(ms, name + entity)


def execute_run(
    app: LoadedApp,
    source: ScanSource,
    store: RunStore,
    lease: RunLease,
    options: RunOptions,
    *,
    on_chunk: Callable[[RunInfo | None], None] | None = None,
) -> RunInfo:
    """Decide every entity after ``lease.run.checkpoint``; finish the run (``succeeded``, or
    ``failed`` with the error) and return it as stored. A lost lease stops the run quietly:
    its new holder goes on."""
    settings = app.spec.features.get(source.name)
    ids = run_decision_ids(lease.run)
    chunks = (
        _decide_chunk(app, source.name, chunk, settings, options, ids, lease.run.id)
        for chunk in whole_entities(source.scan(lease.run.checkpoint, options.chunk_rows))
    )
    return drive_run(store, lease, options, chunks, on_chunk=on_chunk)


def drive_run(
    store: RunStore,
    lease: RunLease,
    options: RunOptions,
    chunks: Iterator[tuple[RecordRequest, ChunkProgress]],
    *,
    on_chunk: Callable[[RunInfo | None], None] | None = None,
) -> RunInfo:
    """Commit each decided chunk of ``chunks`` with its checkpoint (one transaction each),
    then finish the run (``succeeded``, or ``failed`` with the error) and return it as stored.
    Whatever the run reads from — a feature source, a file — it is driven by this. A lost lease
    stops the run quietly: its new holder goes on."""
    try:
        for request, progress in chunks:
            store.record_run_chunk(
                lease,
                [request],
                progress,
                lease_seconds=options.lease_seconds,
                actor=options.actor,
            )
            if on_chunk is not None:
                on_chunk(None)
    except ConflictError as error:
        logger.warning("run %s: %s", lease.run.id, error.message)
        return store.get_run(lease.run.id) or lease.run
    except KeyboardInterrupt:  # Ctrl-C: resumable now, not once its lease has expired
        store.finish_run(lease, "failed", "interrupted (Ctrl-C); doorstep runs resume goes on")
        raise
    except Exception as error:  # noqa: BLE001 - recorded with the run, then raised
        text = error.message if isinstance(error, DoorstepError) else f"{error!r}"
        store.finish_run(lease, "failed", text)
        raise
    store.finish_run(lease, "succeeded", None)
    return store.get_run(lease.run.id) or lease.run


def run_by_hand(
    app: LoadedApp,
    store: RunStore,
    source: str | None,
    url: str | None,
    query: str | None,
    deliver: bool,
    *,
    explain: bool | None,
    chunk_rows: int,
) -> RunInfo:
    """Decide every entity of a SQL source (a named one of the spec, or ``url`` + ``query``),
    recording the decisions in the store as a run without a schedule (``doorstep score
    --from``); ``chunk_rows`` is capped at :data:`MAX_CHUNK_ROWS`."""
    from doorstep.sources.adhoc import open_scan

    scan = open_scan(app, source, url, query)
    try:
        options = RunOptions(
            chunk_rows=min(chunk_rows, MAX_CHUNK_ROWS),
            deliver=deliver,
            explain=explain,
            lease_seconds=BY_HAND_LEASE_SECONDS,
            actor="doorstep score",
            query=query if source is None else None,
        )
        lease = store.start_run(
            app.name,
            scan.name,
            runner="doorstep score",
            lease_seconds=BY_HAND_LEASE_SECONDS,
            options=options.stored(),
        )
        assert lease is not None  # runs by hand have no slot to collide on
        return execute_run(app, scan, store, lease, options)
    finally:
        scan.close()


def _decide_chunk(
    app: LoadedApp,
    source: str,
    chunk: list[tuple[str, FeatureRow]],
    settings: FeatureSourceSpec | None,
    options: RunOptions,
    ids: Callable[[str], str],
    run_id: str,
) -> tuple[RecordRequest, ChunkProgress]:
    spec = app.spec
    fields = spec.inputs.fields
    now = datetime.now(UTC)
    records: list[dict[str, Any]] = []
    lineages: list[dict[str, Any] | None] = []
    repeated, ambiguous = ambiguous_rows(chunk, spec.inputs.id, source)
    errors: list[RecordError] = []
    for entity_id, row in chunk:
        if entity_id in repeated:
            continue
        names = list(row.values)
        entry, stale = source_lineage(source, settings, entity_id, names, row, now)
        if stale is not None:
            errors.append(stale)
            continue
        record = {spec.inputs.id: entity_id}
        for name, value in row.values.items():
            record[name] = normalise_value(value, fields[name])
        records.append(record)
        lineages.append({"request": [], "sources": {source: entry}})
    decisions: list[Decision] = []
    shadow: list[ShadowDecision] = []
    if records:
        batch = decide_batch(app, frame_from_records(records, spec.inputs), explain=options.explain)
        recorded = record_batch(app, batch, records, now=now, lineage=lineages, decision_id=ids)
        decisions = recorded.decisions
        shadow = list(recorded.shadow.values())
        errors += [replace(e, record=None) for e in recorded.errors]
    deliveries = deliveries_for(app, decisions) if options.deliver else []
    rejected = len({e.entity_id for e in errors}) + len(ambiguous)  # rows refused
    errors = ambiguous + errors
    progress = ChunkProgress(
        checkpoint=chunk[-1][0],
        rows=len(chunk),
        decided=len(decisions),
        rejected=rejected,
        deliveries=len(deliveries),
        errors=[e.as_dict() for e in errors],
    )
    kept = kept_rejects(
        app,
        ((None, e.entity_id, e.field, e.rule, None, e.message) for e in errors),
        source="run",
        at=now,
        record_of=lambda _, entity: f"{run_id}:{entity}",
        run_id=run_id,
    )
    request = RecordRequest(
        decisions, app=app.name, deliveries=deliveries, shadow=shadow, rejects=kept
    )
    return request, progress
