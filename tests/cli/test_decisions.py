"""``doorstep decisions import``: history recorded at its times, with a progress bar, rejected
rows listed as FILE:ROW:FIELD:RULE, importing again recording nothing twice, and a file whose
every row is rejected exiting with the all-rejected status."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import polars as pl
import pytest
from typer.testing import CliRunner, Result

from doorstep.cli.main import app
from doorstep.cli.score import EXIT_ALL_REJECTED
from doorstep.store import open_store
from doorstep.store.protocols import DecisionQuery

runner = CliRunner()


def _words(text: str) -> str:
    return " ".join(text.split())


def _history(churn_app: Path, rows: int) -> pl.DataFrame:
    frame = pl.read_parquet(churn_app / "customers.parquet").head(rows)
    start = datetime(2026, 2, 1, tzinfo=UTC)
    return frame.with_columns(
        pl.Series("ts", [(start + timedelta(hours=i)).isoformat() for i in range(rows)])
    )


def _import(churn_app: Path, path: Path, db: str, *extra: str) -> Result:
    spec = str(churn_app / "doorstep.yaml")
    args = ["decisions", "import", str(path), "--spec", spec, "--decided-at", "ts", "--db", db]
    return runner.invoke(app, [*args, *extra])


def test_decisions_import_records_history_at_its_times(churn_app: Path, tmp_path: Path) -> None:
    frame = _history(churn_app, 120)
    frame = frame.with_columns(
        pl.when(pl.int_range(pl.len()) == 4)
        .then(pl.lit("soon"))
        .otherwise(pl.col("ts"))
        .alias("ts")
    )
    path = tmp_path / "past.csv"
    frame.write_csv(path)
    db = f"sqlite:///{tmp_path / 'store.db'}"
    done = _import(churn_app, path, db, "--chunk-rows", "50")
    output = _words(done.output)
    assert done.exit_code == 0, output
    assert "120 rows read, 119 decisions recorded, 1 rows rejected, 0 imported before" in output
    assert "past.csv:5:ts:decided_at: row 5 (customer_id=" in output
    with open_store(db) as store:
        made = store.list_decisions(DecisionQuery(app="churn", limit=500)).items
    assert len(made) == 119 and all(d.lineage and d.lineage["imported"] for d in made)
    assert max(d.created_at for d in made) == datetime(2026, 2, 1, tzinfo=UTC) + timedelta(
        hours=119
    )
    again = _import(churn_app, path, db)
    assert again.exit_code == 0
    assert "0 decisions recorded, 1 rows rejected, 119 imported before" in _words(again.output)


def test_every_row_rejected_exits_with_the_all_rejected_status(
    churn_app: Path, tmp_path: Path
) -> None:
    path = tmp_path / "bad.csv"
    _history(churn_app, 5).with_columns(pl.lit("never").alias("ts")).write_csv(path)
    done = _import(churn_app, path, f"sqlite:///{tmp_path / 'store.db'}")
    assert done.exit_code == EXIT_ALL_REJECTED, done.output


def test_monitor_reports_imported_history_in_windows_of_rows(
    churn_app: Path, tmp_path: Path
) -> None:
    path = tmp_path / "past.parquet"
    _history(churn_app, 120).write_parquet(path)
    db = f"sqlite:///{tmp_path / 'store.db'}"
    assert _import(churn_app, path, db).exit_code == 0
    spec = str(churn_app / "doorstep.yaml")
    shown = runner.invoke(
        app, ["monitor", "--spec", spec, "--db", db, "--window", "50rows", "--json", "--no-drift"]
    )
    assert shown.exit_code == 0, shown.output
    report = json.loads(shown.stdout)
    assert report["window"] == "50rows"
    assert [w["decided"] for w in report["rejects"]["windows"]] == [50, 50, 20]
    first = datetime.fromisoformat(report["rejects"]["windows"][1]["start"])
    assert first == datetime(2026, 2, 1, tzinfo=UTC) + timedelta(hours=50)


def test_decisions_import_as_recorded_takes_the_files_scores_and_actions(
    churn_app: Path, tmp_path: Path
) -> None:
    frame = _history(churn_app, 30).with_columns(
        pl.Series("p", [i / 29 for i in range(30)]),
        pl.Series("did", ["none" if i % 2 else "retention_offer" for i in range(30)]),
    )
    frame = frame.with_columns(
        pl.when(pl.int_range(pl.len()) == 6).then(pl.lit(2.0)).otherwise(pl.col("p")).alias("p")
    )
    path = tmp_path / "past.csv"
    frame.write_csv(path)
    db = f"sqlite:///{tmp_path / 'store.db'}"
    done = _import(churn_app, path, db, "--score", "p", "--action", "did")
    output = _words(done.output)
    assert done.exit_code == 0, output
    assert "30 rows read, 29 decisions recorded, 1 rows rejected" in output
    assert "past.csv:7:p:recorded_score: row 7 (customer_id=" in output
    with open_store(db) as store:
        made = store.list_decisions(DecisionQuery(app="churn", limit=500)).items
    given = {r["customer_id"]: r for r in frame.iter_rows(named=True)}
    assert len(made) == 29
    for decision in made:
        row = given[decision.entity_id]
        assert decision.score == pytest.approx(row["p"]) and decision.action == row["did"]
        assert decision.lineage and decision.lineage["imported"]["recorded"] == {
            "score": "p",
            "action": "did",
        }
