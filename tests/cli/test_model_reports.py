"""``doorstep models backtest`` and ``compare``: the churn example's recorded decisions replayed
through a retrained model, and compared with it as a shadow; as tables and as JSON."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import polars as pl
import pytest
from typer.testing import CliRunner

from doorstep.cli.main import app
from doorstep.examples.churn import generate_customers, train_model
from doorstep.services.apps.loading import LoadedApp
from doorstep.services.decide.batch import decide_batch
from doorstep.services.decide.recording import record_batch
from doorstep.store import DecisionQuery, RecordRequest, open_store

pytestmark = pytest.mark.slow
runner = CliRunner()
NOW = datetime.now(UTC)


@pytest.fixture
def recorded(churn_app: Path, churn_loaded_app: LoadedApp, tmp_path: Path) -> tuple[str, Path]:
    """300 decisions recorded two days ago, and a retrained model beside the app."""
    db = f"sqlite:///{tmp_path / 'doorstep.db'}"
    records = generate_customers(300, seed=3).to_dicts()
    batch = decide_batch(churn_loaded_app, pl.DataFrame(records))
    decisions = record_batch(churn_loaded_app, batch, records, now=NOW - timedelta(days=2))
    with open_store(db) as store:
        store.record([RecordRequest(decisions.decisions)], actor="test")
    model = churn_app / "model-v2.lgb.txt"
    train_model(generate_customers(2_000, seed=11), trees=20, seed=11).save_model(str(model))  # type: ignore[attr-defined]
    return db, model


def test_backtest_prints_both_sides_and_the_flips(
    churn_app: Path, recorded: tuple[str, Path]
) -> None:
    db, model = recorded
    args = ["models", "backtest", str(churn_app), "--model", str(model), "--version", "2"]
    result = runner.invoke(app, [*args, "--days", "7", "--db", db])
    assert result.exit_code == 0, result.output
    assert "Backtest of churn version 2: 300 stored decisions" in result.output
    assert "sent to review" in result.output and "Verdict" in result.output
    assert "Not enough outcomes yet" in result.output  # none recorded

    as_json = runner.invoke(app, [*args, "--days", "7", "--db", db, "--json", "--sample", "2"])
    assert as_json.exit_code == 0, as_json.output
    found = json.loads(as_json.stdout)
    assert found["decisions"] == 300
    assert sum(t["decisions"] for t in found["transitions"]) == 300
    flips = sum(t["decisions"] for t in found["transitions"] if t["champion"] != t["candidate"])
    assert found["flips"] == flips
    assert len(found["sample"]) == min(2, flips)

    earlier = runner.invoke(app, [*args, "--until", (NOW - timedelta(days=3)).isoformat(),
                                  "--since", "2020-01-01", "--db", db, "--json"])  # fmt: skip
    assert earlier.exit_code == 0, earlier.output
    assert json.loads(earlier.stdout)["decisions"] == 0


def test_days_and_since_together_are_refused(churn_app: Path, recorded: tuple[str, Path]) -> None:
    db, model = recorded
    result = runner.invoke(
        app,
        ["models", "backtest", str(churn_app / "doorstep.yaml"), "--model", str(model),
         "--version", "2", "--days", "3", "--since", "2025-01-01", "--db", db],
    )  # fmt: skip
    assert result.exit_code != 0
    assert "--days or --since/--until, not both" in result.output


def test_compare_a_shadow_on_outcomes(
    churn_app: Path, churn_loaded_app: LoadedApp, recorded: tuple[str, Path]
) -> None:
    from doorstep.examples.churn.outcomes import simulate_outcomes
    from doorstep.services.apps.loading import with_model
    from doorstep.services.outcomes.ingest import record_outcomes
    from doorstep.store.shadow_records import shadow_of

    db, model = recorded
    shadow = with_model(churn_loaded_app, model, version="2")
    customers = generate_customers(300, seed=3)
    with open_store(db) as store:
        page = store.list_decisions(DecisionQuery(app="churn", limit=1000))
        by_entity = {d.entity_id: d for d in page.items}
        batch = decide_batch(shadow, customers)
        theirs = record_batch(shadow, batch, customers.to_dicts(), now=NOW - timedelta(days=2))
        store.record_shadow([shadow_of(d, by_entity[d.entity_id].id) for d in theirs.decisions])
        outcomes = simulate_outcomes(
            customers, dict.fromkeys(by_entity, False), observed_at=NOW - timedelta(days=1)
        )
        done, errors = record_outcomes(churn_loaded_app.spec, store, outcomes.to_dicts(),
                                       actor="test")  # fmt: skip
        assert errors == [] and done.matched == 300
    args = ["models", "compare", str(churn_app), "--window", "day", "--db", db]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "(shadow)" in result.output and "Verdict" in result.output
    found = json.loads(runner.invoke(app, [*args, "--json"]).stdout)
    assert found["mode"] == "shadow" and found["challenger"]["version"] == "2"
    assert found["champion"]["labelled"] == found["challenger"]["labelled"] == 300
    assert found["difference"]["method"] == "paired DeLong"
    assert found["verdict"]


def test_backtest_of_a_registered_version_by_app_name(
    churn_app: Path, recorded: tuple[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    db, model = recorded
    monkeypatch.chdir(churn_app.parent)  # the app found by its name, as `doorstep models list`
    register = ["models", "register", str(model), "--app", "churn", "--version", "2", "--db", db]
    assert runner.invoke(app, [*register, "--models", str(churn_app / "kept")]).exit_code == 0
    days = ["--version", "2", "--days", "7", "--db", db, "--json"]
    by_file = runner.invoke(
        app, ["models", "backtest", str(churn_app), "--model", str(model), *days]
    )
    by_name = runner.invoke(app, ["models", "backtest", "churn", *days])
    assert by_name.exit_code == 0, by_name.output
    assert json.loads(by_name.stdout)["transitions"] == json.loads(by_file.stdout)["transitions"]
    unknown = runner.invoke(app, ["models", "backtest", "churn", "--version", "9", "--db", db])
    assert unknown.exit_code != 0
    assert "no registered version '9' (registered: " in " ".join(unknown.output.split())
