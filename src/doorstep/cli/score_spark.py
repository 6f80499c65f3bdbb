"""``doorstep score --engine spark``: a dataset decided on Apache Spark (see docs/spark.md)."""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from doorstep.cli import render
from doorstep.cli.console import console, errors

if TYPE_CHECKING:
    from doorstep.store.runs import RunInfo

__all__ = ["Engine", "record_on_spark", "refuse_run_options", "score_on_spark"]


class Engine(StrEnum):
    """Where ``doorstep score`` decides a file: in this process, or on Spark."""

    local = "local"
    spark = "spark"


def refuse_run_options(options: Mapping[str, object]) -> None:
    """A usage error (exit 2) for options Spark scoring does not take: it writes datasets and
    records nothing in a store."""
    given = [name for name, value in options.items() if value not in (None, False)]
    if given:
        raise typer.BadParameter(
            "cannot be combined with --engine spark: Spark scoring reads SOURCE and writes "
            "decisions and rejects datasets under --out, or with --record records them in the "
            "store (--db) as a run",
            param_hint=given[0],
        )


def score_on_spark(
    source: str,
    spec: Path,
    out: str,
    *,
    master: str,
    rejects: str | None,
    input_format: str | None,
    explain: bool | None,
    chunk_rows: int,
) -> tuple[int, int]:
    """Score ``source`` on Spark; print the summary; return ``(rows, decided)``."""
    from doorstep.services.apps.loading import load_app
    from doorstep.services.runs.spark import score_dataset, spark_session

    render.warnings(errors, load_app(spec).warnings)
    with console.status(f"Starting Spark ({master})…"):
        spark = spark_session(master, batch_rows=chunk_rows)
    with console.status("Deciding on Spark…"):
        summary = score_dataset(
            spark,
            source,
            spec,
            out,
            rejects=rejects,
            input_format=input_format,
            explain=explain,
        )
    render.score_summary(console, summary)
    return summary.rows, summary.decided


def record_on_spark(
    source: str,
    spec: Path,
    db: str | None,
    *,
    master: str,
    input_format: str | None,
    explain: bool | None,
    deliver: bool,
    chunk_rows: int,
) -> RunInfo:
    """Decide ``source`` on Spark and record it in the store ``db`` as a run; print the run."""
    from doorstep.cli import runs_render
    from doorstep.cli.options import open_db
    from doorstep.services.apps.loading import load_app
    from doorstep.services.runs.spark import spark_session
    from doorstep.services.runs.spark_record import record_dataset
    from doorstep.store.engine import resolve_url
    from doorstep.store.home import DEFAULT_HOME

    render.warnings(errors, load_app(spec).warnings)
    with console.status(f"Starting Spark ({master})…"):
        spark = spark_session(master, batch_rows=chunk_rows)
    with open_db(db) as store, console.status("Deciding and recording on Spark…"):
        run = record_dataset(
            spark,
            source,
            spec,
            store,
            resolve_url(db, DEFAULT_HOME),
            deliver=deliver,
            explain=explain,
            input_format=input_format,
        )
    runs_render.run_done(console, errors, run)
    return run
