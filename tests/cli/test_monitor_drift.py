"""``doorstep monitor`` with drift: the churn example's decisions with two drifted features,
printed 80 columns wide with every feature name whole; the reference profile is kept beside the
store's SQLite file, not in the working directory."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest
from tests.services.monitor.test_drift import DAYS, DRIFTED, SHIFT_DAY, START, decide_days
from typer.testing import CliRunner

from doorstep.cli.console import console
from doorstep.cli.main import app
from doorstep.services.apps.loading import load_app
from doorstep.store import open_store

runner = CliRunner()


@pytest.mark.slow
def test_monitor_prints_drift_and_caches_the_profile(
    churn_app: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    work, home = tmp_path / "work", tmp_path / "store"
    work.mkdir()
    monkeypatch.chdir(work)
    monkeypatch.setenv("COLUMNS", "80")
    monkeypatch.setattr(console, "_width", 80)  # a terminal 80 columns wide (the attribute:
    # monkeypatch would put the width property back as the number it read, pinning it)
    db = f"sqlite:///{home / 'doorstep.db'}"
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
    assert "…" not in shown.stdout  # no name cut at 80 columns
    for name in load_app(churn_app / "doorstep.yaml").spec.feature_fields:
        assert name in shown.stdout, name
    assert len(list((home / "profiles").glob("churn-*.arrow"))) == 1  # beside doorstep.db
    assert not (work / ".doorstep").exists()

    report = json.loads(runner.invoke(app, [*args, "--json"]).stdout)
    assert set(report["drift"]["windows"][SHIFT_DAY + 1]["flagged"]) == DRIFTED
    plain = json.loads(runner.invoke(app, [*args, "--json", "--no-drift"]).stdout)
    assert plain["drift"] is None
