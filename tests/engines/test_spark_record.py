"""Spark runs recorded into PostgreSQL (``doorstep score --engine spark --record``): the same
decisions and deliveries as ``doorstep score FILE --record``, and a task that fails after
recording part of its partition, tried again, records nothing twice.

Shares the Spark session and dataset of tests/engines/test_spark.py (imported fixtures)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import psycopg
import pytest

from doorstep.services.apps.loading import load_app
from doorstep.services.runs.file_runs import file_decision_ids, record_file
from doorstep.store import open_store
from doorstep.store.runs import RunInfo
from tests.engines.test_spark import CUSTOMERS, dataset, spark

pyspark = pytest.importorskip("pyspark")

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

__all__ = ["dataset", "spark"]  # the module's fixtures, shared

pytestmark = pytest.mark.filterwarnings(
    "ignore:PySpark does not yet fully support pandas:FutureWarning"
)


def _recorded(url: str, run: RunInfo) -> dict[int, tuple[Any, ...]]:
    """The run's decisions by row: (id, entity, action, score, deliveries of the decision)."""
    ids = file_decision_ids(run)
    by_id = {ids(row): row for row in range(1, run.rows + 1)}
    with psycopg.connect(url) as conn:
        found = conn.execute(
            "SELECT d.id, d.entity_id, d.action, d.score, count(o.id) FROM decisions d "
            "LEFT JOIN deliveries o ON o.decision_id = d.id WHERE d.id = ANY(%s) "
            "GROUP BY d.id, d.entity_id, d.action, d.score",
            (list(by_id),),
        ).fetchall()
    return {by_id[row[0]]: tuple(row) for row in found}


def _count(url: str, table: str) -> int:
    with psycopg.connect(url) as conn:
        row = conn.execute(f"SELECT count(*) FROM {table}").fetchone()  # noqa: S608
    assert row is not None
    return int(row[0])


def test_spark_records_what_score_record_records(
    spark: SparkSession, dataset: Path, pg_url: str
) -> None:
    from doorstep.services.runs.spark_record import record_dataset

    spec = dataset / "doorstep.yaml"
    with open_store(pg_url) as store:
        local = record_file(
            load_app(spec),
            store,
            dataset / "all.parquet",
            input_format=None,
            deliver=True,
            explain=None,
            chunk_rows=100,
        )
        run = record_dataset(spark, str(dataset / "customers"), spec, store, pg_url, deliver=True)
    assert run.state == "succeeded", run.error
    assert (run.rows, run.decided, run.rejected) == (CUSTOMERS, CUSTOMERS - 3, 3)
    assert run.deliveries == local.deliveries > 0
    assert run.checkpoint == str(CUSTOMERS)
    assert run.errors == local.errors
    on_spark, in_process = _recorded(pg_url, run), _recorded(pg_url, local)
    assert len(on_spark) == CUSTOMERS - 3
    assert sorted(on_spark) == sorted(in_process)  # the same rows decided
    ids = file_decision_ids(run)
    for row, (decision, entity, action, score, sent) in on_spark.items():
        assert decision == ids(row)  # derived from the run and the row
        assert (entity, action, score, sent) == in_process[row][1:]
    assert _count(pg_url, "deliveries") == 2 * local.deliveries


def test_a_task_retried_mid_partition_records_nothing_twice(
    spark: SparkSession, dataset: Path, pg_url: str, tmp_path: Path
) -> None:
    """The first attempt of partition 0 fails after committing its first batch; Spark tries
    the task again (local[2,2]), which decides that batch again: the store keeps one decision
    per row and one delivery per decision, and the run's counts are not doubled."""
    from doorstep.services.runs.spark_record import record_dataset

    marker = str(tmp_path / "failed-once")

    def fail_once(partition: int) -> None:
        from pyspark import TaskContext

        context = TaskContext.get()
        if partition == 0 and context is not None and context.attemptNumber() == 0:
            if not os.path.exists(marker):
                Path(marker).touch()
                raise RuntimeError("executor lost mid-partition")

    spec = dataset / "doorstep.yaml"
    with open_store(pg_url) as store:
        run = record_dataset(
            spark, str(dataset / "customers"), spec, store, pg_url, deliver=True,
            after_batch=fail_once,
        )  # fmt: skip
    assert Path(marker).exists(), "the first attempt did not fail"
    assert run.state == "succeeded", run.error
    assert (run.rows, run.decided, run.rejected) == (CUSTOMERS, CUSTOMERS - 3, 3)
    recorded = _recorded(pg_url, run)
    assert len(recorded) == CUSTOMERS - 3 == _count(pg_url, "decisions")
    assert {sent for *_, sent in recorded.values()} == {1}  # the churn app acts on every one?
    assert _count(pg_url, "deliveries") == run.deliveries
