"""Score on Apache Spark: a dataset in, a Parquet dataset of decisions out, rejects beside it.

The decision path is the one of ``doorstep score``: each partition goes through ``mapInArrow``
into :func:`~doorstep.services.decide.batch.decide_batch` on the executors (scores, policy and
reasons alike), with the app loaded once per executor process from the spec and model bytes the
driver broadcast (:mod:`doorstep.services.runs.spark_tasks`).

A decision's ``row`` is the record's 1-based number in the input. For Parquet files it is the
number ``doorstep score`` gives on the files read one after the other in path order: each file's
rows are counted first (a cheap job that reads no column), and each record carries its file and
index in it (Spark's ``_metadata``). Other DataFrames (CSV, JSON Lines, computed ones) are
numbered in partition order, counted the same way; a DataFrame whose partitions change between
two jobs (a random repartition) gets numbers in no stable order.
"""

from __future__ import annotations

import os
import sys
import time
import warnings
from collections import Counter
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

import polars as pl
import pyarrow as pa

from doorstep.core.contract import REJECT_SCHEMA
from doorstep.errors import InputError
from doorstep.services.apps.loading import LoadedApp, load_app
from doorstep.services.decide.batch import decision_schema
from doorstep.services.runs.files import ScoreSummary
from doorstep.services.runs.spark_tasks import (
    FILE_COLUMN,
    INDEX_COLUMN,
    AppBundle,
    Numbering,
    bundle_app,
    decide_partition,
    reject_partition,
)

if TYPE_CHECKING:
    from pyspark import Broadcast
    from pyspark.sql import DataFrame, Row, SparkSession

__all__ = [
    "check_replaceable",
    "default_rejects_location",
    "reject_dataframe",
    "score_dataframe",
    "score_dataset",
    "spark_session",
]

SPARK_FORMATS = ("parquet", "csv", "jsonl")


def spark_session(master: str = "local[2]", *, batch_rows: int = 65_536) -> SparkSession:
    """A Spark session for scoring: Arrow batches of ``batch_rows`` rows, the console quiet.

    In local mode the executors run this very Python (``PYSPARK_PYTHON`` unless set); on a
    cluster they run the Python the cluster is configured with, where doorstep must be
    installed."""
    from pyspark.sql import SparkSession

    local = master.startswith("local")
    if local:
        os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    builder = (
        SparkSession.builder.master(master)
        .appName("doorstep score")
        .config("spark.sql.execution.arrow.maxRecordsPerBatch", str(batch_rows))
        .config("spark.ui.showConsoleProgress", "false")
    )
    if local:
        builder = builder.config("spark.ui.enabled", "false")
    with _quiet():
        spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel("ERROR")
    return spark


@dataclass(frozen=True)
class _Plan:
    """What every task of one scoring needs: the app's bytes and where each record's row
    number starts; ``input`` is the DataFrame to map (with the hidden file columns)."""

    app: LoadedApp
    input: DataFrame
    bundle: Broadcast[AppBundle]
    numbering: Broadcast[Numbering]
    rows: int


def _plan(df: DataFrame, spec: Path | str) -> _Plan:
    spec_path = Path(spec)
    app = load_app(spec_path)
    located = _located(df)
    if located is not None:  # a Parquet dataset: rows numbered in file order
        starts, total = _starts(located.groupBy(FILE_COLUMN).count().collect())
        numbering = Numbering({str(k): v for k, v in starts.items()}, {})
        df = located
    else:  # any other DataFrame: rows numbered in partition order
        from pyspark.sql import functions as F

        partitions = df.select(F.spark_partition_id().alias("p")).groupBy("p").count()
        starts, total = _starts(partitions.collect())
        numbering = Numbering(None, {int(k): v for k, v in starts.items()})
    context = df.sparkSession.sparkContext
    return _Plan(
        app,
        df,
        context.broadcast(bundle_app(app, spec_path)),
        context.broadcast(numbering),
        total,
    )


def _located(df: DataFrame) -> DataFrame | None:
    """``df`` with each row's file and index in it, when Spark knows them (Parquet files)."""
    from pyspark.errors import AnalysisException
    from pyspark.sql import functions as F

    try:
        located = df.select(
            "*",
            F.col("_metadata.file_path").alias(FILE_COLUMN),
            F.col("_metadata.row_index").alias(INDEX_COLUMN),
        )
        located.schema  # noqa: B018 - resolves the plan: raises when there is no row_index
    except AnalysisException:
        return None
    return located


def _starts(counts: list[Row]) -> tuple[dict[Any, int], int]:
    """The 0-based first row of each key (files by path, partitions by number), and the total."""
    starts: dict[Any, int] = {}
    total = 0
    for key, count in sorted((row[0], int(row[1])) for row in counts):
        starts[key] = total
        total += count
    return starts, total


def score_dataframe(df: DataFrame, spec: Path | str, *, explain: bool | None = None) -> DataFrame:
    """The decisions of ``df``'s valid records: the columns of ``doorstep score``'s output.

    ``spec`` is the app's ``doorstep.yaml`` on the driver; its model and reference reach the
    executors as bytes. ``explain`` overrides the spec's ``explain.for`` as ``--explain`` does.
    Rejected records have no decision: :func:`reject_dataframe` says why."""
    return _decisions(_plan(df, spec), explain)


def reject_dataframe(df: DataFrame, spec: Path | str) -> DataFrame:
    """One row per broken rule of ``df``'s records (the columns of a rejects file)."""
    return _rejects(_plan(df, spec))


def _decisions(plan: _Plan, explain: bool | None) -> DataFrame:
    schema = _arrow_schema(decision_schema(plan.app))
    task = partial(_decide_task, plan.bundle, plan.numbering, explain, schema)
    with _quiet():
        return plan.input.mapInArrow(task, _spark_schema(schema))


def _rejects(plan: _Plan) -> DataFrame:
    schema = _arrow_schema(REJECT_SCHEMA)
    task = partial(_reject_task, plan.bundle, plan.numbering, schema)
    with _quiet():
        return plan.input.mapInArrow(task, _spark_schema(schema))


def _decide_task(
    bundle: Broadcast[AppBundle],
    numbering: Broadcast[Numbering],
    explain: bool | None,
    schema: pa.Schema,
    batches: Iterator[pa.RecordBatch],
) -> Iterator[pa.RecordBatch]:
    return decide_partition(bundle.value, numbering.value, explain, schema, _partition(), batches)


def _reject_task(
    bundle: Broadcast[AppBundle],
    numbering: Broadcast[Numbering],
    schema: pa.Schema,
    batches: Iterator[pa.RecordBatch],
) -> Iterator[pa.RecordBatch]:
    return reject_partition(bundle.value, numbering.value, schema, _partition(), batches)


def _partition() -> int:
    from pyspark import TaskContext

    context = TaskContext.get()
    assert context is not None, "a doorstep Spark task runs inside a Spark task"
    return context.partitionId()


def default_rejects_location(out: str) -> str:
    """``decisions/`` → ``decisions.rejects`` (a Parquet dataset beside the decisions)."""
    return out.rstrip("/") + ".rejects"


def score_dataset(
    spark: SparkSession,
    source: str,
    spec: Path,
    out: str,
    *,
    rejects: str | None = None,
    input_format: str | None = None,
    explain: bool | None = None,
) -> ScoreSummary:
    """Score the dataset at ``source`` (a Parquet, CSV or JSON Lines file or folder, or any
    location Spark reads) into a Parquet dataset at ``out``, its rejects into ``rejects``
    (default: ``out`` + ``.rejects``); the summary is computed on the driver from what was
    written.

    Both are written beside their place first (``out.partial``, ``rejects.partial``) and moved
    there only once complete, replacing an earlier output: a run that dies leaves the earlier
    output whole and ``out`` never half-written, and running it again is safe."""
    started = time.perf_counter()
    rejects = rejects or default_rejects_location(out)
    for location in (out, rejects):
        check_replaceable(location)
    df = read_dataset(spark, source, input_format)
    plan = _plan(df, spec)
    staged, staged_rejects = staging_location(out), staging_location(rejects)
    _decisions(plan, explain).write.mode("overwrite").parquet(staged)
    summary = _summary(spark, staged, plan.rows)
    summary.output, summary.rejects = Path(out), Path(rejects)
    if summary.decided < plan.rows:  # the contract's check again, only when it refused rows
        _rejects(plan).write.mode("overwrite").parquet(staged_rejects)
    else:
        empty = spark.createDataFrame([], _spark_schema(_arrow_schema(REJECT_SCHEMA)))
        empty.write.mode("overwrite").parquet(staged_rejects)
    summary.reject_rows = spark.read.parquet(staged_rejects).count()
    summary.rejected_rows = plan.rows - summary.decided
    publish(spark, staged_rejects, rejects)
    publish(spark, staged, out)
    summary.seconds = time.perf_counter() - started
    return summary


def staging_location(location: str) -> str:
    """Where the dataset meant for ``location`` is written until it is complete."""
    return location.rstrip("/") + ".partial"


def publish(spark: SparkSession, staged: str, location: str) -> None:
    """Move the complete dataset ``staged`` to ``location``, replacing what is there, through
    the file system Spark writes with (a rename on local disks and HDFS)."""
    jvm, conf = spark._jvm, spark._jsc.hadoopConfiguration()
    assert jvm is not None, "publishing needs a classic Spark session (not Spark Connect)"
    hadoop_path = jvm.org.apache.hadoop.fs.Path
    source, target = hadoop_path(staged), hadoop_path(location.rstrip("/"))
    replaced = hadoop_path(location.rstrip("/") + ".replaced")
    fs = source.getFileSystem(conf)
    fs.delete(replaced, True)
    if fs.exists(target) and not fs.rename(target, replaced):
        raise InputError(f"could not move the earlier output {location} aside to replace it")
    if not fs.rename(source, target):
        raise InputError(f"could not move the new output {staged} to {location}")
    fs.delete(replaced, True)


def read_dataset(spark: SparkSession, source: str, input_format: str | None) -> DataFrame:
    """``source`` as a DataFrame: Parquet by default, CSV (every value as text, typed by the
    input contract as ``doorstep score`` does) or JSON Lines by the suffix or ``input_format``."""
    from pyspark.errors import AnalysisException

    fmt = input_format or _format_of(source)
    if fmt not in SPARK_FORMATS:
        raise InputError(f"unknown format {fmt!r}; use parquet, csv or jsonl")
    if "://" not in source and not Path(source).exists():
        raise InputError(f"input {source} does not exist")
    try:
        if fmt == "csv":
            return spark.read.option("header", True).csv(source)
        if fmt == "jsonl":
            return spark.read.json(source)
        return spark.read.parquet(source)
    except AnalysisException as exc:
        raise InputError(f"{source} is not a readable {fmt} dataset: {exc}") from None


def _format_of(source: str) -> str:
    suffix = Path(source.rstrip("/")).suffix.lower()
    return {".csv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "jsonl"}.get(
        suffix, "parquet"
    )


def check_replaceable(location: str) -> None:
    """Refuse to replace a local folder that is not an earlier Spark output (no ``_SUCCESS``)."""
    if "://" in location:
        return
    path = Path(location)
    if path.is_file() or (
        path.is_dir() and any(path.iterdir()) and not (path / "_SUCCESS").exists()
    ):
        raise InputError(
            f"{location} exists and is not an earlier Spark output (no _SUCCESS file in it); "
            "give --out a new folder, or remove it"
        )


def _summary(spark: SparkSession, out: str, rows: int) -> ScoreSummary:
    from pyspark.sql import functions as F

    counts = (
        spark.read.parquet(out)
        .groupBy("action", "status")
        .agg(F.count("*").alias("n"), F.count("reasons_text").alias("explained"))
        .collect()
    )
    summary = ScoreSummary(rows=rows, actions=Counter(), statuses=Counter())
    for row in counts:
        summary.decided += row["n"]
        summary.explained += row["explained"]
        summary.actions[row["action"]] += row["n"]
        summary.statuses[row["status"]] += row["n"]
    return summary


def _arrow_schema(schema: Mapping[str, pl.DataType]) -> pa.Schema:
    """The Arrow schema Spark exchanges for these columns (plain, not large, strings)."""
    from pyspark.sql.pandas.types import from_arrow_schema, to_arrow_schema

    arrow = pl.DataFrame(schema=dict(schema)).to_arrow().schema
    return to_arrow_schema(from_arrow_schema(arrow))


def _spark_schema(schema: pa.Schema) -> Any:
    from pyspark.sql.pandas.types import from_arrow_schema

    return from_arrow_schema(schema)


@contextmanager
def _quiet() -> Iterator[None]:
    """PySpark warns that it does not fully support pandas 3; ``mapInArrow`` needs no pandas."""
    with warnings.catch_warnings():
        warnings.filterwarnings(
            "ignore", message="PySpark does not yet fully support pandas", category=FutureWarning
        )
        yield
