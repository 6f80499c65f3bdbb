"""``doorstep outcomes import``, ``doorstep monitor`` and ``doorstep export training-data``."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import polars as pl
from tests.services.monitor.test_report import SPEC, START
from tests.store.factories import decision
from typer.testing import CliRunner

from doorstep.cli.main import app
from doorstep.store import RecordRequest, open_store

runner = CliRunner()


def setup(tmp_path: Path) -> tuple[str, Path]:
    db = f"sqlite:///{tmp_path / 'doorstep.db'}"
    spec = tmp_path / "doorstep.yaml"
    spec.write_text(SPEC)
    store = open_store(db)
    try:
        store.record(
            [RecordRequest([decision(i, created_at=START + timedelta(hours=i)) for i in range(6)])],
            actor="t",
        )
    finally:
        store.close()
    return db, spec


def test_import_monitor_export(tmp_path: Path) -> None:
    db, spec = setup(tmp_path)
    source = tmp_path / "outcomes.csv"
    source.write_text(
        "customer_id,churned,observed_at\n"
        "C-0,1,2025-03-02\n"
        "C-1,0,2025-03-02\n"
        "C-2,yes,2025-03-02\n"
        "C-99,1,2025-03-02\n"
        "C-3,2,2025-03-02\n"
    )
    result = runner.invoke(
        app, ["outcomes", "import", str(source), "--spec", str(spec), "--db", db]
    )
    assert result.exit_code == 0, result.output
    assert "5 rows of outcomes.csv for app churn: 4 recorded (3 matched to a decision)" in (
        result.stdout
    )
    assert "1 unmatched: the entity has no decision in this app (no_decision)" in result.stdout
    assert "row 5 churned (allowed_values)" in result.stderr
    assert (tmp_path / "outcomes.rejects.csv").is_file()
    again = runner.invoke(app, ["outcomes", "import", str(source), "--spec", str(spec), "--db", db])
    assert "0 recorded (0 matched to a decision), 4 already recorded, 1 refused" in again.stdout

    window = ["--since", "2025-03-01", "--until", "2025-03-02", "--nice", "0"]
    shown = runner.invoke(app, ["monitor", "--spec", str(spec), "--db", db, *window])
    assert shown.exit_code == 0, shown.output
    assert "6 decisions, 3 with an outcome" in shown.stdout
    assert "Live quality" in shown.stdout and "too_small" in shown.stdout
    report = json.loads(
        runner.invoke(app, ["monitor", "--spec", str(spec), "--db", db, "--json", *window]).stdout
    )
    assert report["quality"]["total"]["labelled"] == 3 and report["window"] == "day"

    out = tmp_path / "training.parquet"
    exported = runner.invoke(
        app, ["export", "training-data", "--spec", str(spec), "--db", db, "--out", str(out)]
    )
    assert exported.exit_code == 0, exported.output
    assert "Wrote 6 decisions (3 with an outcome" in exported.stdout
    frame = pl.read_parquet(out)
    assert frame.height == 6 and frame["churned"].to_list()[:3] == [1, 0, 1]


def test_errors_are_reported_with_their_code(tmp_path: Path) -> None:
    db, spec = setup(tmp_path)
    missing = runner.invoke(
        app, ["outcomes", "import", str(tmp_path / "nope.csv"), "--spec", str(spec), "--db", db]
    )
    assert missing.exit_code == 1 and "error (input_invalid)" in missing.stderr
    bad = runner.invoke(app, ["monitor", "--spec", str(spec), "--db", db, "--since", "yesterday"])
    assert bad.exit_code == 1 and "--since must be an ISO 8601 time" in bad.stderr
