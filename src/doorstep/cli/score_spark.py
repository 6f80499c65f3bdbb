"""``doorstep score --engine spark``: a dataset decided on Apache Spark (see docs/spark.md)."""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from pathlib import Path

import typer

from doorstep.cli import render
from doorstep.cli.console import console, errors

__all__ = ["Engine", "refuse_run_options", "score_on_spark"]


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
            "decisions and rejects datasets under --out (it records nothing in a store)",
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
