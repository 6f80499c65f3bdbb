"""``doorstep fairness``: a table per attribute with "too few" below the minimum, JSON equal to
the service's report, and usage errors that name the attribute."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest
from tests.services.monitor.test_fairness import SPEC, START, simulate
from typer.testing import CliRunner

from doorstep.cli.main import app
from doorstep.store import open_store

runner = CliRunner()
APP = "churn"
RANGE = ["--since", START.isoformat(), "--until", (START + timedelta(days=10)).isoformat()]


def setup(tmp_path: Path) -> tuple[str, Path]:
    db = f"sqlite:///{tmp_path / 'doorstep.db'}"
    spec = tmp_path / "doorstep.yaml"
    spec.write_text(SPEC)
    store = open_store(db)
    try:
        simulate(store, 1_500, seed=11)
    finally:
        store.close()
    return db, spec


def test_tables_and_json(tmp_path: Path) -> None:
    db, spec = setup(tmp_path)
    base = ["fairness", "--spec", str(spec), "--db", db, *RANGE]
    shown = runner.invoke(
        app, [*base, "--by", "region", "--by", "age_band"], env={"COLUMNS": "200"}
    )
    assert shown.exit_code == 0, shown.output
    text = shown.stdout
    assert "1500 decisions" in text and "By region" in text and "By age_band (age)" in text
    assert "too few (under 40 decisions): east" in text
    assert "demographic-parity difference:" in text and "equalized-odds difference:" in text
    found = json.loads(runner.invoke(app, [*base, "--json", "--by", "region"]).stdout)
    (region,) = found["attributes"]
    assert found["decisions"] == 1_500 and region["too_few"] == ["east"]
    south = next(g for g in region["groups"] if g["group"] == "south")
    difference = region["demographic_parity_difference"]["selected"]
    assert difference["high_group"] == "south"  # the simulation scores the south higher
    assert difference["value"] > 0 and south["enough"]


def test_an_unknown_attribute_is_named(tmp_path: Path) -> None:
    db, spec = setup(tmp_path)
    args = ["fairness", "--spec", str(spec), "--db", db, "--by", "tenure_months"]
    result = runner.invoke(app, args)
    assert result.exit_code == 1
    said = result.stderr.replace("\n", " ")
    assert "Got 'tenure_months' instead" in said and "choose from region, age, age_band" in said


def test_the_app_is_named_like_the_models_commands(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    db, spec = setup(tmp_path)
    monkeypatch.chdir(tmp_path)
    by_name = runner.invoke(app, ["fairness", APP, "--by", "region", "--json", "--db", db, *RANGE])
    assert by_name.exit_code == 0, by_name.output
    by_spec = runner.invoke(app, ["fairness", "--spec", str(spec), "--by", "region", "--json",
                                  "--db", db, *RANGE])  # fmt: skip
    by_folder = runner.invoke(app, ["fairness", str(tmp_path), "--by", "region", "--json",
                                    "--db", db, *RANGE])  # fmt: skip
    reports = [json.loads(r.stdout) for r in (by_name, by_spec, by_folder)]
    for report in reports:
        report.pop("generated_at")
    assert reports[0]["decisions"] == 1_500 and reports[0] == reports[1] == reports[2]
    unknown = runner.invoke(app, ["fairness", "churm", "--db", db])
    assert unknown.exit_code == 1 and f"No spec of app 'churm' (did you mean '{APP}'" in " ".join(
        unknown.stderr.split()
    )
    both = runner.invoke(app, ["fairness", APP, "--spec", str(spec), "--db", db])
    assert both.exit_code == 1 and "not both" in both.stderr
    neither = runner.invoke(app, ["fairness", "--db", db])
    assert neither.exit_code == 1 and "Name the app" in neither.stderr
