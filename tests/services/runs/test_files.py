"""Batch scoring of files: every row decided or rejected, numbered across chunks."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest

from doorstep.services.apps.loading import LoadedApp
from doorstep.services.runs.files import default_rejects_path, score_file

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def app(churn_loaded_app: LoadedApp) -> LoadedApp:
    return churn_loaded_app


def broken_csv(app: LoadedApp, path: Path) -> pl.DataFrame:
    """The sample customers as CSV, with three broken records (rows 5, 260, 261)."""
    customers = pl.read_parquet(app.root / "customers.parquet").head(300)
    text = customers.cast(pl.String).with_columns(
        pl.when(pl.int_range(pl.len()) == 4)
        .then(pl.lit("lots"))
        .otherwise("tenure_months")
        .alias("tenure_months"),
        pl.when(pl.int_range(pl.len()) == 259).then(pl.lit("gold")).otherwise("plan").alias("plan"),
        pl.when(pl.int_range(pl.len()) == 260)
        .then(pl.lit(None))
        .otherwise("customer_id")
        .alias("customer_id"),
    )
    text.write_csv(path)
    return customers


def test_csv_with_broken_rows_across_chunks(app: LoadedApp, tmp_path: Path) -> None:
    source = tmp_path / "in.csv"
    broken_csv(app, source)
    out = tmp_path / "out" / "decisions.parquet"
    totals: list[int | None] = []
    done: list[int] = []
    summary = score_file(
        app, source, out, chunk_rows=128, on_total=totals.append, on_progress=done.append
    )
    assert totals == [300] and sum(done) == 300 and len(done) == 3
    assert (summary.rows, summary.decided, summary.rejected_rows) == (300, 297, 3)
    decisions = pl.read_parquet(out)
    assert decisions.height == 297
    assert decisions["row"].to_list() == [r for r in range(1, 301) if r not in (5, 260, 261)]
    assert summary.actions == dict(decisions["action"].value_counts().rows())
    rejects = pl.read_csv(default_rejects_path(out))
    assert rejects.select("row", "field", "rule").rows() == [
        (5, "tenure_months", "type"),
        (260, "plan", "allowed_values"),
        (261, "customer_id", "id_required"),
    ]
    assert "lots" in rejects["message"][0]


def test_jsonl_output_and_unreadable_lines(app: LoadedApp, tmp_path: Path) -> None:
    customers = pl.read_parquet(app.root / "customers.parquet").head(20)
    lines = [json.dumps(r) for r in customers.iter_rows(named=True)]
    lines.insert(2, "{broken json")
    source = tmp_path / "in.jsonl"
    source.write_text("\n".join(lines) + "\n")
    out = tmp_path / "decisions.jsonl"
    rejects = tmp_path / "bad.csv"
    summary = score_file(app, source, out, rejects=rejects, explain=True)
    assert (summary.rows, summary.decided, summary.rejected_rows) == (21, 20, 1)
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["row"] for r in rows] == [1, 2, *range(4, 22)]
    assert all(len(r["reasons"]) == 3 for r in rows)
    bad = pl.read_csv(rejects)
    assert bad.select("row", "rule").rows() == [(3, "record")]


def test_missing_required_column_is_fatal_and_named(app: LoadedApp, tmp_path: Path) -> None:
    from doorstep.errors import InputError

    source = tmp_path / "in.parquet"
    pl.read_parquet(app.root / "customers.parquet").rename({"plan": "plann"}).write_parquet(source)
    with pytest.raises(InputError, match="plan"):
        score_file(app, source, tmp_path / "out.parquet")
