"""A dataset decided on Spark and recorded into the store as a run (``doorstep score SOURCE
--engine spark --record --db postgresql://...``).

The run is started on the driver. Each executor task decides its partition's Arrow batches
through the one :func:`~doorstep.services.decide.batch.decide_batch` and records each batch's
decisions — with their deliveries, through the outbox, when the run delivers — in ONE
transaction (:meth:`~doorstep.store.store.Store.record_run_chunk`, under the run's lease).
A decision's id is derived from the run and the record's row number
(:func:`~doorstep.services.runs.file_runs.file_decision_ids`), and the store leaves out ids it
holds already: a retried task (an executor lost mid-partition) records again what its first
attempt committed as a no-op, so no decision and no action is ever doubled. The driver then
adds the rejected rows and their first errors to the run and finishes it.
"""

from __future__ import annotations

import atexit
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

import polars as pl
import pyarrow as pa

from doorstep.errors import RecordError
from doorstep.services.decide.batch import decide_batch
from doorstep.services.decide.recording import record_batch
from doorstep.services.deliver.actions import deliveries_for
from doorstep.services.runs.file_runs import file_decision_ids
from doorstep.services.runs.sources import RunOptions, drive_run
from doorstep.services.runs.spark import _partition, _plan, _quiet, _rejects, read_dataset
from doorstep.services.runs.spark_tasks import AppBundle, Numbering, _numbered, loaded_app
from doorstep.store.protocols import RecordRequest, RunStore
from doorstep.store.runs import MAX_RUN_ERRORS, ChunkProgress, RunInfo, RunLease

if TYPE_CHECKING:
    from pyspark import Broadcast

    from doorstep.store.store import Store

__all__ = ["SPARK_LEASE_SECONDS", "SPARK_SOURCE_PREFIX", "RecordTarget", "record_dataset"]

SPARK_SOURCE_PREFIX = "spark:"
"""A Spark run's ``source``: ``spark:`` and the dataset's location."""

SPARK_LEASE_SECONDS = 3600.0
"""How long a Spark run holds its run between two batches recorded (executors may take long to
start: each loads the app once)."""

_COUNTS = pa.schema([("action", pa.string()), ("status", pa.string()), ("explained", pa.bool_())])
"""What a recording task returns to the driver: one row per decision recorded or found."""


@dataclass(frozen=True)
class RecordTarget:
    """Where and how executors record: the store's URL, the run's lease and its options."""

    db: str
    lease: RunLease
    options: RunOptions
    source: str
    after_batch: Callable[[int], None] | None = None
    """Called on the executor after each batch is committed, with the partition's number
    (fault tests kill a task there)."""


_stores: dict[str, Store] = {}
_lock = threading.Lock()


def _store(url: str) -> Store:
    """The store at ``url``, opened once per executor process and reused by its tasks."""
    from doorstep.store import open_store

    with _lock:
        store = _stores.get(url)
        if store is None:
            store = _stores[url] = open_store(url, migrate=False)
            atexit.register(store.close)
        return store


def record_partition(
    bundle: AppBundle,
    numbering: Numbering,
    target: RecordTarget,
    partition: int,
    batches: Iterator[pa.RecordBatch],
) -> Iterator[pa.RecordBatch]:
    """Decide and record one partition's batches, each in one transaction; yield a row per
    decision (its action, status and whether it was explained) for the run's summary."""
    from doorstep.services.runs.spark_tasks import _advanced

    app = loaded_app(bundle)
    store = _store(target.db)
    ids = file_decision_ids(target.lease.run)
    spec = app.spec
    names = [spec.inputs.id, *spec.inputs.fields]
    for batch in batches:
        for frame, offset in _numbered(batch, numbering, partition):
            decided = decide_batch(app, frame, row_offset=offset, explain=target.options.explain)
            present = [n for n in names if n in frame.columns]
            records = frame.select(present).to_dicts()
            carried = [n for n in spec.inputs.fields if n in frame.columns]
            lineage: list[dict[str, Any] | None] = [
                {"request": carried, "sources": {}, "file": {"name": target.source, "row": r}}
                for r in range(offset + 1, offset + frame.height + 1)
            ]
            recorded = record_batch(
                app,
                decided,
                records,
                now=datetime.now(UTC),
                lineage=lineage,
                row_id=ids,
                row_offset=offset,
            )
            deliveries = deliveries_for(app, recorded.decisions) if target.options.deliver else []
            count = len(recorded.decisions)
            store.record_run_chunk(
                target.lease,
                [
                    RecordRequest(
                        recorded.decisions,
                        app=app.name,
                        deliveries=deliveries,
                        shadow=list(recorded.shadow.values()),
                    )
                ],
                ChunkProgress(None, rows=count, decided=count, deliveries=len(deliveries)),
                lease_seconds=target.options.lease_seconds,
                actor=target.options.actor,
            )
            if target.after_batch is not None:
                target.after_batch(partition)
            table = decided.decisions.select(
                pl.col("action"), pl.col("status"), pl.col("reasons").is_not_null()
            )
            yield pa.RecordBatch.from_arrays(
                [
                    pa.array(table["action"].to_list(), pa.string()),
                    pa.array(table["status"].to_list(), pa.string()),
                    pa.array(table["reasons"].to_list(), pa.bool_()),
                ],
                schema=_COUNTS,
            )
        numbering = _advanced(numbering, partition, batch.num_rows)


def _record_task(
    bundle: Broadcast[AppBundle],
    numbering: Broadcast[Numbering],
    target: RecordTarget,
    batches: Iterator[pa.RecordBatch],
) -> Iterator[pa.RecordBatch]:
    return record_partition(bundle.value, numbering.value, target, _partition(), batches)


def record_dataset(
    spark: Any,
    source: str,
    spec: Path | str,
    store: RunStore,
    db: str,
    *,
    deliver: bool,
    explain: bool | None = None,
    input_format: str | None = None,
    after_batch: Callable[[int], None] | None = None,
) -> RunInfo:
    """Decide the dataset at ``source`` on Spark and record its decisions in ``store`` (at
    ``db``, which every executor opens) as one run; ``deliver`` enqueues their actions.
    Returns the finished run: its rows, decided, rejected and deliveries, its first errors."""
    from pyspark.sql import functions as F

    df = read_dataset(spark, source, input_format)
    plan = _plan(df, spec)
    options = RunOptions(
        chunk_rows=0,
        deliver=deliver,
        explain=explain,
        lease_seconds=SPARK_LEASE_SECONDS,
        actor="doorstep score",
    )
    lease = store.start_run(
        plan.app.name,
        f"{SPARK_SOURCE_PREFIX}{source}"[:200],
        runner="doorstep score --engine spark",
        lease_seconds=SPARK_LEASE_SECONDS,
        options={**options.stored(), "engine": "spark", "source": source},
    )
    assert lease is not None  # runs by hand have no slot to collide on
    name = Path(source.rstrip("/")).name
    target = RecordTarget(db, lease, options, name, after_batch)

    def chunks() -> Iterator[tuple[RecordRequest, ChunkProgress]]:
        task = partial(_record_task, plan.bundle, plan.numbering, target)
        with _quiet():
            counted = plan.input.mapInArrow(task, _spark_counts())
        decided = counted.select(F.count("*").alias("n")).collect()[0]["n"]
        rejected = plan.rows - int(decided)
        errors: list[dict[str, Any]] = []
        if rejected:
            first = _rejects(plan).orderBy("row").limit(MAX_RUN_ERRORS).collect()
            errors = [
                RecordError(r["row"], r["entity_id"], r["field"], r["rule"], r["message"]).as_dict()
                for r in first
            ]
        done = ChunkProgress(str(plan.rows), rows=rejected, rejected=rejected, errors=errors)
        yield RecordRequest([], app=plan.app.name), done

    return drive_run(store, lease, options, chunks())


def _spark_counts() -> Any:
    from pyspark.sql.pandas.types import from_arrow_schema

    return from_arrow_schema(_COUNTS)
