"""``doorstep monitor --alert``: raises once, says so, exits 4 while in alert, sends the alerts
through the spec's connector; the second run raises nothing."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest
from ruamel.yaml import YAML
from typer.testing import CliRunner

from doorstep.cli.main import app
from doorstep.services.apps.examples import decide_sample
from doorstep.services.apps.loading import load_app
from doorstep.services.monitor.alerts import EXIT_ALERT
from doorstep.store import open_store

runner = CliRunner()


@pytest.mark.slow
def test_monitor_alert_raises_once_and_exits_4(
    churn_app: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    path = churn_app / "doorstep.yaml"
    yaml = YAML()
    data = yaml.load(path.read_text())
    data["connectors"]["ops_log"] = {"type": "file", "path": "alerts.jsonl"}
    del data["actions"]["retention_offer"]["connector"]  # decisions deliver nothing here
    data["monitoring"]["drift"] = {"min_rows": 300}
    data["monitoring"]["alerts"] = {"connectors": ["ops_log"], "include_current": True}
    with path.open("w") as out:
        yaml.dump(data, out)
    drifted = pl.read_parquet(churn_app / "customers.parquet").with_columns(
        pl.col("monthly_spend") * 1.5, pl.col("days_since_last_login") + 10
    )
    drifted.write_parquet(tmp_path / "drifted.parquet")
    db = f"sqlite:///{tmp_path / 'doorstep.db'}"
    with open_store(db) as store:
        decide_sample(load_app(path), store, tmp_path / "drifted.parquet", count=500)
    args = ["monitor", "--alert", "--spec", str(path), "--db", db]

    # the first run in a child process (--nice 10 by default), the second in this one
    first = runner.invoke(app, [*args, "--public-url", "https://ds.example.com"])
    assert first.exit_code == EXIT_ALERT, first.output
    assert "alert.raised drift.monthly_spend" in first.stdout
    assert "alert.raised drift.days_since_last_login" in first.stdout
    sent = [json.loads(line) for line in (churn_app / "alerts.jsonl").read_text().splitlines()]
    subjects = {line["data"]["subject"] for line in sent}
    assert {"drift.monthly_spend", "drift.days_since_last_login"} <= subjects
    assert all(line["data"]["report_url"] == "https://ds.example.com/apps/churn" for line in sent)

    again = runner.invoke(app, [*args, "--json", "--nice", "0"])
    assert again.exit_code == EXIT_ALERT, again.output
    result = json.loads(again.stdout)
    assert result["transitions"] == [] and result["status"] == "alert"
    assert "drift.monthly_spend" in result["open_alerts"]
    assert len((churn_app / "alerts.jsonl").read_text().splitlines()) == len(sent)

    verified = runner.invoke(app, ["audit", "verify", "--db", db])
    assert verified.exit_code == 0, verified.output


def test_monitor_alert_needs_alerts_in_the_spec(churn_app: Path, tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'doorstep.db'}"
    shown = runner.invoke(app, ["monitor", "--alert", "--spec", str(churn_app / "doorstep.yaml"),
                                "--db", db, "--no-drift"])  # fmt: skip
    assert shown.exit_code == 1
    assert "has no monitoring.alerts" in shown.output
