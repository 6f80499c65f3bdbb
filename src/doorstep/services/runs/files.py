"""Batch scoring: stream a record file through the decision path into decisions and rejects.

Memory stays flat whatever the input size: one chunk is read, decided and written at a time.
Rejected records never vanish: each broken rule becomes a row of the rejects file, with the
record's 1-based row number in the input.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

from doorstep.core.contract import REJECT_SCHEMA
from doorstep.engines.files import RecordReader, RecordWriter
from doorstep.services.apps.loading import LoadedApp
from doorstep.services.decide.batch import decide_batch, decision_schema

__all__ = ["ScoreSummary", "default_rejects_path", "score_file", "unreadable_rows"]


@dataclass
class ScoreSummary:
    """What a scoring run did."""

    rows: int = 0
    decided: int = 0
    rejected_rows: int = 0
    reject_rows: int = 0
    """Rows of the rejects file (one per broken rule)."""
    actions: Counter[str] = field(default_factory=Counter)
    statuses: Counter[str] = field(default_factory=Counter)
    explained: int = 0
    seconds: float = 0.0
    output: Path | None = None
    rejects: Path | None = None

    @property
    def rows_per_second(self) -> float:
        return self.rows / self.seconds if self.seconds > 0 else 0.0


def default_rejects_path(out: Path) -> Path:
    """``decisions.parquet`` → ``decisions.rejects.csv`` (CSV, so people can open it)."""
    return out.with_name(out.name.removesuffix(out.suffix) + ".rejects.csv")


def score_file(
    app: LoadedApp,
    source: Path,
    out: Path,
    *,
    rejects: Path | None = None,
    input_format: str | None = None,
    output_format: str | None = None,
    chunk_rows: int = 65_536,
    explain: bool | None = None,
    on_total: Callable[[int | None], None] | None = None,
    on_progress: Callable[[int], None] | None = None,
) -> ScoreSummary:
    """Score ``source`` into ``out`` and write rejects; return a summary.

    ``on_total`` receives the (estimated) row count once; ``on_progress`` the rows done per chunk.
    """
    started = time.perf_counter()
    reader = RecordReader(source, chunk_rows=chunk_rows, fmt=input_format)
    if on_total is not None:
        on_total(reader.total_rows)
    rejects = rejects or default_rejects_path(out)
    summary = ScoreSummary(output=out, rejects=rejects)
    offset = 0
    with (
        RecordWriter(out, decision_schema(app), fmt=output_format) as decisions_out,
        RecordWriter(rejects, REJECT_SCHEMA) as rejects_out,
    ):
        for chunk in reader:
            bad = unreadable_rows(reader, offset, chunk.height)
            batch = decide_batch(
                app, chunk.drop("__bad__", strict=False), row_offset=offset, explain=explain
            )
            decisions_out.write(batch.decisions)
            rejected = batch.rejects
            if bad.height:  # a line that is no record: one reject saying so, not one per field
                rejected = pl.concat([bad, rejected.filter(~pl.col("row").is_in(bad["row"]))])
            rejects_out.write(rejected.sort("row"))
            size = chunk.height
            summary.rows += size
            summary.decided += batch.decisions.height
            summary.reject_rows += rejected.height
            summary.rejected_rows += rejected["row"].n_unique()
            summary.explained += batch.decisions.height - batch.decisions["reasons"].null_count()
            summary.actions.update(_counts(batch.decisions, "action"))
            summary.statuses.update(_counts(batch.decisions, "status"))
            offset += size
            if on_progress is not None:
                on_progress(size)
    summary.seconds = time.perf_counter() - started
    return summary


def unreadable_rows(reader: RecordReader, offset: int, height: int) -> pl.DataFrame:
    """Reject rows for input lines that were not records at all (JSON Lines only)."""
    lines = [(row, message) for row, message in reader.bad_lines if offset < row <= offset + height]
    return pl.DataFrame(
        {
            "row": [r for r, _ in lines],
            "entity_id": [None] * len(lines),
            "field": [None] * len(lines),
            "rule": ["record"] * len(lines),
            "value": [None] * len(lines),
            "message": [m for _, m in lines],
        },
        schema=REJECT_SCHEMA,
    )


def _counts(frame: pl.DataFrame, column: str) -> dict[str, int]:
    counts = frame[column].value_counts()
    return dict(zip(counts[column].to_list(), counts["count"].to_list(), strict=True))
