"""``doorstep monitor --alert`` with a range replays it dry: each window judged as a live run at
its end would have judged it, what would have been raised and resolved printed per window, and
nothing recorded or sent (the alert states describe now, not the range)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import sqlalchemy as sa
from tests.services.monitor.test_alerts import DRIFTED, decide_days, write_spec
from typer.testing import CliRunner

from doorstep.cli.main import app
from doorstep.services.apps.loading import load_app
from doorstep.services.monitor.alerts import EXIT_ALERT
from doorstep.store import open_store
from doorstep.store.tables import audit_events

runner = CliRunner()


@pytest.mark.slow
def test_alert_with_a_range_replays_its_windows_dry(
    churn_app: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    path = write_spec(churn_app, {"connectors": ["ops_log"]}, "http://127.0.0.1:9/unused")
    db = f"sqlite:///{tmp_path / 'doorstep.db'}"
    with open_store(db) as store:
        decide_days(load_app(path), store)  # 2025-03-03 to 03-08, drifted on 03-06 and 03-07
        with store.engine.connect() as conn:
            before = conn.execute(sa.select(sa.func.count()).select_from(audit_events)).scalar()
    args = ["monitor", "--alert", "--spec", str(path), "--db", db, "--nice", "0"]
    args += ["--since", "2025-03-03", "--until", "2025-03-09"]

    shown = runner.invoke(app, [*args, "--json"])
    assert shown.exit_code == EXIT_ALERT, shown.output  # the worst window of the range
    result = json.loads(shown.stdout)
    assert result["dry_run"] is True and result["status"] == "alert"
    days = {w["start"][:10]: w for w in result["windows"]}
    assert list(days) == [f"2025-03-0{d}" for d in range(3, 9)]
    raised = {c["subject"] for c in days["2025-03-06"]["would"] if c["event"] == "alert.raised"}
    assert raised == DRIFTED
    assert days["2025-03-07"]["would"] == []  # still in breach: nothing sent twice
    resolved = {c["subject"] for c in days["2025-03-08"]["would"]}
    assert resolved == DRIFTED and {c["event"] for c in days["2025-03-08"]["would"]} == {
        "alert.resolved"
    }
    assert days["2025-03-03"]["status"] != "alert" and result["open_alerts"] == {}

    text = runner.invoke(app, args)
    assert text.exit_code == EXIT_ALERT, text.output
    assert "dry (nothing recorded or sent)" in text.stdout
    after_day_6 = text.stdout.split("2025-03-06T00:00")[1].split("2025-03-07T00:00")[0]
    assert "would send alert.raised drift.monthly_spend" in after_day_6

    with open_store(db) as store:  # nothing recorded: no state, no delivery, no audit event
        assert store.alert_states("churn") == {}
        with store.engine.connect() as conn:
            after = conn.execute(sa.select(sa.func.count()).select_from(audit_events)).scalar()
        assert after == before
    assert not (churn_app / "alerts.jsonl").exists()


@pytest.mark.slow
def test_a_range_past_its_end_judges_only_complete_windows(
    churn_app: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    path = write_spec(churn_app, {"connectors": ["ops_log"]}, "http://127.0.0.1:9/unused")
    db = f"sqlite:///{tmp_path / 'doorstep.db'}"
    shown = runner.invoke(
        app,
        ["monitor", "--alert", "--spec", str(path), "--db", db, "--nice", "0", "--no-drift",
         "--window", "hour", "--periods", "3", "--json"],
    )  # fmt: skip
    assert shown.exit_code == 0, shown.output
    result = json.loads(shown.stdout)
    assert result["dry_run"] is True and result["window"] == "hour"
    assert len(result["windows"]) == 2  # the third, the current hour, is still filling
    assert result["status"] == "insufficient_data"
