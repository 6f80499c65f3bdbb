"""``doorstep fairness``: a table per attribute with "too few" below the minimum, JSON equal to
the service's report, and usage errors that name the attribute."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

from tests.services.monitor.test_fairness import SPEC, START, simulate
from typer.testing import CliRunner

from doorstep.cli.main import app
from doorstep.store import open_store

runner = CliRunner()
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
