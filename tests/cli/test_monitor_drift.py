"""``doorstep monitor`` with drift: the churn example's decisions with two drifted features."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest
from tests.services.monitor.test_drift import DAYS, DRIFTED, SHIFT_DAY, START, decide_days
from typer.testing import CliRunner

from doorstep.cli.main import app
from doorstep.services.apps.loading import load_app
from doorstep.store import open_store

runner = CliRunner()


@pytest.mark.slow
def test_monitor_prints_drift_and_caches_the_profile(
    churn_app: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    db = f"sqlite:///{tmp_path / 'doorstep.db'}"
    with open_store(db) as store:
        decide_days(load_app(churn_app / "doorstep.yaml"), store)
    spec = str(churn_app / "doorstep.yaml")
    until = (START + timedelta(days=DAYS)).isoformat()
    args = ["monitor", "--spec", spec, "--db", db, "--since", START.isoformat(), "--until", until]
    args += ["--nice", "0"]  # in this process (the child of --nice: test_monitor_threads.py)
    shown = runner.invoke(app, args)
    assert shown.exit_code == 0, shown.output
    assert "Drift against the reference data" in shown.stdout
    assert "monthly_spend" in shown.stdout and "alert" in shown.stdout
    assert "Latest window" in shown.stdout and "psi" in shown.stdout
    assert len(list((tmp_path / ".doorstep" / "profiles").glob("churn-*.arrow"))) == 1

    report = json.loads(runner.invoke(app, [*args, "--json"]).stdout)
    assert set(report["drift"]["windows"][SHIFT_DAY + 1]["flagged"]) == DRIFTED
    plain = json.loads(runner.invoke(app, [*args, "--json", "--no-drift"]).stdout)
    assert plain["drift"] is None
