"""The Spark engine in ``local[2]``: a dataset of several Parquet files and partitions decided on
the executors equals ``doorstep score`` on the same rows exactly (scores, actions, reasons,
row numbers), rejects land in a dataset beside, and ``doorstep score --engine spark`` works.
Recorded into PostgreSQL (``--record``), the decisions and deliveries are ``doorstep score FILE
--record``'s, and a task tried again after recording part of its partition records nothing twice.

One Spark session for the module (start-up costs ~8 s), stopped in a finalizer."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import polars as pl
import pytest
from polars.testing import assert_frame_equal
from typer.testing import CliRunner

from doorstep.cli.main import app as cli
from doorstep.errors import InputError
from doorstep.services.apps.loading import load_app
from doorstep.services.runs.file_runs import file_decision_ids, record_file
from doorstep.services.runs.files import ScoreSummary, score_file
from doorstep.store import open_store
from doorstep.store.runs import RunInfo, RunQuery

pyspark = pytest.importorskip("pyspark")

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

pytestmark = pytest.mark.filterwarnings(
    "ignore:PySpark does not yet fully support pandas:FutureWarning"
)

FILES = 3
CUSTOMERS = 500


@pytest.fixture(scope="module")
def spark() -> Iterator[SparkSession]:
    from doorstep.spark import spark_session

    # small Arrow batches: several batches per partition, so row numbers cross batches;
    # local[2,2]: a failed task is tried again once (as on a cluster), for the retry test
    session = spark_session("local[2,2]", batch_rows=64)
    session.conf.set("spark.sql.files.maxPartitionBytes", "16k")
    try:
        yield session
    finally:
        session.stop()


@pytest.fixture(scope="module")
def dataset(churn_app_template: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The churn example's customers split over several Parquet files, with broken rows: a
    negative tenure, an unknown plan, a missing id."""
    root = tmp_path_factory.mktemp("spark-app")
    shutil.copytree(churn_app_template, root, dirs_exist_ok=True)
    customers = pl.read_parquet(root / "customers.parquet")
    customers = customers.with_columns(
        pl.when(pl.int_range(pl.len()) == 7)
        .then(-3)
        .otherwise(pl.col("tenure_months"))
        .alias("tenure_months"),
        pl.when(pl.int_range(pl.len()) == 260)
        .then(pl.lit("gold"))
        .otherwise(pl.col("plan"))
        .alias("plan"),
        pl.when(pl.int_range(pl.len()) == 401)
        .then(None)
        .otherwise(pl.col("customer_id"))
        .alias("customer_id"),
    )
    customers.write_parquet(root / "all.parquet", row_group_size=50)
    folder = root / "customers"
    folder.mkdir()
    size = -(-customers.height // FILES)
    for i in range(FILES):
        part = customers.slice(i * size, size)
        part.write_parquet(folder / f"part-{i}.parquet", row_group_size=50)
    return root


@pytest.fixture(scope="module")
def expected(dataset: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """``doorstep score``'s decisions and rejects for the same rows, in one file."""
    out = tmp_path_factory.mktemp("local") / "decisions.parquet"
    summary = score_file(load_app(dataset / "doorstep.yaml"), dataset / "all.parquet", out)
    assert summary.rejects is not None
    return out, summary.rejects


def test_the_dataset_is_read_in_several_partitions(spark: SparkSession, dataset: Path) -> None:
    df = spark.read.parquet(str(dataset / "customers"))
    assert df.rdd.getNumPartitions() >= FILES


@pytest.fixture(scope="module")
def scored(
    spark: SparkSession, dataset: Path, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Path, ScoreSummary]:
    """The dataset scored on Spark once for the module: the decisions folder and the summary."""
    from doorstep.services.runs.spark import score_dataset

    out = tmp_path_factory.mktemp("spark-out") / "decisions"
    summary = score_dataset(spark, str(dataset / "customers"), dataset / "doorstep.yaml", str(out))
    return out, summary


def test_decisions_equal_doorstep_score_exactly(
    scored: tuple[Path, ScoreSummary], expected: tuple[Path, Path]
) -> None:
    out, summary = scored
    local = pl.read_parquet(expected[0])
    decided = pl.read_parquet(out / "*.parquet").sort("row")
    assert decided.columns == local.columns
    assert decided.height == CUSTOMERS - 3
    assert_frame_equal(decided, local, check_exact=True)
    assert decided["reasons_text"].null_count() < decided.height  # reasons were computed
    assert summary.rows == CUSTOMERS
    assert summary.decided == CUSTOMERS - 3
    assert summary.rejected_rows == 3
    assert summary.explained == decided.height - decided["reasons"].null_count()
    assert sum(summary.actions.values()) == decided.height
    assert summary.actions["retention_offer"] == (decided["action"] == "retention_offer").sum()


def test_rejects_are_a_dataset_beside_the_decisions(
    scored: tuple[Path, ScoreSummary], expected: tuple[Path, Path]
) -> None:
    out, summary = scored
    assert summary.rejects == out.with_name("decisions.rejects")
    rejects = pl.read_parquet(summary.rejects / "*.parquet").sort("row", "field")
    local = pl.read_csv(expected[1], schema=dict(rejects.schema)).sort("row", "field")
    assert rejects["row"].to_list() == [8, 261, 402]
    assert_frame_equal(rejects, local)
    assert summary.reject_rows == 3
    assert {"tenure_months", "plan", "customer_id"} == set(rejects["field"].to_list())


def test_score_dataframe_decides_a_dataframe_held_in_hand(
    spark: SparkSession, dataset: Path, expected: tuple[Path, Path]
) -> None:
    from doorstep.spark import reject_dataframe, score_dataframe

    df = spark.read.parquet(str(dataset / "customers"))
    decided = score_dataframe(df, dataset / "doorstep.yaml").toArrow()
    frame = pl.from_arrow(decided)
    assert isinstance(frame, pl.DataFrame)
    assert_frame_equal(frame.sort("row"), pl.read_parquet(expected[0]))
    rejects = reject_dataframe(df, dataset / "doorstep.yaml").count()
    assert rejects == 3


def test_the_cli_scores_with_the_spark_engine(dataset: Path, tmp_path: Path) -> None:
    """The module's session is reused by the command (``getOrCreate``), so it is not stopped."""
    out = tmp_path / "decided"
    args = [
        "score",
        str(dataset / "customers"),
        "--spec",
        str(dataset / "doorstep.yaml"),
        "--engine",
        "spark",
        "--out",
        str(out),
    ]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    assert "decided" in result.stdout
    assert pl.read_parquet(out / "*.parquet").height == CUSTOMERS - 3
    assert (tmp_path / "decided.rejects" / "_SUCCESS").exists()


def test_an_earlier_output_may_be_replaced_and_nothing_else(tmp_path: Path) -> None:
    from doorstep.services.runs.spark import check_replaceable

    check_replaceable(str(tmp_path / "new"))
    (tmp_path / "earlier").mkdir()
    (tmp_path / "earlier" / "_SUCCESS").touch()
    check_replaceable(str(tmp_path / "earlier"))
    check_replaceable("s3://bucket/decisions")  # not checked: Spark replaces it
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").touch()
    with pytest.raises(InputError, match="not an earlier Spark output"):
        check_replaceable(str(tmp_path / "mine"))


def test_a_rerun_after_a_killed_run_replaces_the_output_whole(
    spark: SparkSession, dataset: Path, tmp_path: Path
) -> None:
    """A run killed mid-write leaves its half-written files in ``out.partial`` (never in
    ``out``), and the earlier output whole; running it again replaces both cleanly."""
    from doorstep.services.runs.spark import score_dataset

    out = tmp_path / "decisions"
    (out).mkdir()
    (out / "_SUCCESS").touch()
    (out / "part-old.parquet").write_bytes(b"earlier output")
    killed = tmp_path / "decisions.partial" / "_temporary"
    killed.mkdir(parents=True)
    (killed / "part-half.parquet").write_bytes(b"half written")
    summary = score_dataset(spark, str(dataset / "customers"), dataset / "doorstep.yaml", str(out))
    assert summary.decided == CUSTOMERS - 3
    assert not (out / "part-old.parquet").exists()
    assert pl.read_parquet(out / "*.parquet").height == CUSTOMERS - 3
    assert pl.read_parquet(tmp_path / "decisions.rejects" / "*.parquet").height == 3
    assert sorted(p.name for p in tmp_path.iterdir()) == ["decisions", "decisions.rejects"]


def test_the_cli_refuses_an_out_folder_that_is_no_spark_output(
    dataset: Path, tmp_path: Path
) -> None:
    (tmp_path / "mine.txt").write_text("keep me")
    args = ["score", str(dataset / "customers"), "--spec", str(dataset / "doorstep.yaml")]
    result = CliRunner().invoke(cli, [*args, "--engine", "spark", "--out", str(tmp_path)])
    assert result.exit_code == 1
    assert "is not an earlier Spark output" in result.output
    assert (tmp_path / "mine.txt").read_text() == "keep me"


def test_the_cli_refuses_spark_record_with_out(dataset: Path, tmp_path: Path) -> None:
    args = ["score", str(dataset / "customers"), "--spec", str(dataset / "doorstep.yaml")]
    out = str(tmp_path / "d")
    result = CliRunner().invoke(cli, [*args, "--engine", "spark", "--record", "--out", out])
    assert result.exit_code == 2
    assert "--out" in result.output
    result = CliRunner().invoke(cli, [*args, "--engine", "spark", "--out", out, "--deliver"])
    assert result.exit_code == 2
    assert "--deliver" in result.output


def test_the_spark_submit_job_scores_a_dataset(
    spark: SparkSession, dataset: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The one-file job, run as spark-submit would (the session it asks for is the module's)."""
    from doorstep.examples.spark_job import main

    out = tmp_path / "job"
    args = [str(dataset / "customers"), "--spec", str(dataset / "doorstep.yaml")]
    assert main([*args, "--out", str(out)]) == 0
    assert f"{CUSTOMERS:,} rows: {CUSTOMERS - 3:,} decided, 3 rejected" in capsys.readouterr().out
    assert pl.read_parquet(out / "*.parquet").height == CUSTOMERS - 3


def test_records_are_numbered_by_file_and_index_across_file_boundaries() -> None:
    """A batch holding the end of one file and the start of the next is decided in two runs,
    each numbered from its file's first row (files in path order)."""
    import pyarrow as pa

    from doorstep.services.runs.spark_tasks import (
        FILE_COLUMN,
        INDEX_COLUMN,
        Numbering,
        _numbered,
    )

    batch = pa.RecordBatch.from_pydict(
        {
            "x": [1, 2, 3, 4, 5],
            FILE_COLUMN: ["file:/b.parquet"] * 2 + ["file:/a.parquet"] * 3,
            INDEX_COLUMN: [8, 9, 0, 1, 2],
        }
    )
    numbering = Numbering({"file:/a.parquet": 0, "file:/b.parquet": 40}, {})
    runs = [(frame["x"].to_list(), offset) for frame, offset in _numbered(batch, numbering, 0)]
    assert runs == [([1, 2], 48), ([3, 4, 5], 0)]
    by_partition = Numbering(None, {3: 100})
    assert [offset for _, offset in _numbered(batch, by_partition, 3)] == [100]


def test_master_without_the_spark_engine_is_a_usage_error(dataset: Path, tmp_path: Path) -> None:
    args = ["score", str(dataset / "all.parquet"), "--spec", str(dataset / "doorstep.yaml")]
    result = CliRunner().invoke(cli, [*args, "--out", str(tmp_path / "d.parquet"), "--master", "x"])
    assert result.exit_code == 2
    assert "--master" in result.output
    assert not (tmp_path / "d.parquet").exists()


def _recorded(url: str, run: RunInfo) -> dict[int, tuple[Any, ...]]:
    """The run's decisions by row: (id, entity, action, score, deliveries of the decision)."""
    import psycopg  # the postgres extra, as the pg_url fixture needs

    ids = file_decision_ids(run)
    by_id = {ids(row): row for row in range(1, run.rows + 1)}
    with psycopg.connect(_plain(url)) as conn:
        found = conn.execute(
            "SELECT d.id, d.entity_id, d.action, d.score, count(o.id) FROM decisions d "
            "LEFT JOIN deliveries o ON o.decision_id = d.id WHERE d.id = ANY(%s) "
            "GROUP BY d.id, d.entity_id, d.action, d.score",
            (list(by_id),),
        ).fetchall()
    return {by_id[row[0]]: tuple(row) for row in found}


def _plain(url: str) -> str:
    """``url`` as psycopg takes it (``postgresql://``, not SQLAlchemy's dialect prefix)."""
    return url.replace("postgresql+psycopg://", "postgresql://", 1)


def _count(url: str, table: str) -> int:
    import psycopg

    with psycopg.connect(_plain(url)) as conn:
        row = conn.execute(f"SELECT count(*) FROM {table}").fetchone()  # noqa: S608
    assert row is not None
    return int(row[0])


def test_spark_records_what_score_record_records(
    spark: SparkSession, dataset: Path, pg_url: str
) -> None:
    """Through the CLI (the module's session: ``getOrCreate`` returns it)."""
    spec = dataset / "doorstep.yaml"
    app = load_app(spec)
    with open_store(pg_url) as store:
        local = record_file(
            app,
            store,
            dataset / "all.parquet",
            input_format=None,
            deliver=True,
            explain=None,
            chunk_rows=100,
        )
    args = ["score", str(dataset / "customers"), "--spec", str(spec), "--engine", "spark"]
    options = ["--chunk-rows", "64", "--record", "--db", pg_url, "--deliver"]
    result = CliRunner().invoke(cli, [*args, *options])
    assert result.exit_code == 0, result.output
    with open_store(pg_url) as store:
        spark_runs = [
            r
            for r in store.list_runs(RunQuery(app=app.name)).items
            if r.source == f"spark:{dataset / 'customers'}"
        ]
    assert len(spark_runs) == 1
    run = spark_runs[0]
    assert run.id in result.output
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
    sent = [deliveries for *_, deliveries in recorded.values()]
    assert set(sent) == {0, 1}  # one delivery per decision acted on, none doubled
    assert sum(sent) == run.deliveries == _count(pg_url, "deliveries") > 0
