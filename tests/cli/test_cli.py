"""The command line: thin commands over the services, clear errors, exit codes."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest
from tests.paths import ROOT
from typer.testing import CliRunner

from doorstep.cli.main import app
from doorstep.cli.reference import cli_reference

runner = CliRunner()


def test_schema_prints_json_schema() -> None:
    result = runner.invoke(app, ["schema"])
    assert result.exit_code == 0
    schema = json.loads(result.stdout)
    assert schema["title"] == "doorstep app spec"
    assert "policy" in schema["properties"]


def test_cli_reference_is_current() -> None:
    docs = ROOT / "docs" / "cli.md"
    assert docs.read_text() == cli_reference(app), (
        "docs/cli.md is stale: run `python -m doorstep.cli.reference > docs/cli.md`"
    )


@pytest.mark.slow
def test_validate_then_score(churn_app: Path, tmp_path: Path) -> None:
    spec = churn_app / "doorstep.yaml"
    result = runner.invoke(app, ["validate", str(spec)])
    assert result.exit_code == 0, result.output
    assert "is valid" in result.stdout and "additive" in result.stdout
    assert "linear-treeshap, trees compiled at load" in result.stdout
    out = tmp_path / "decisions.csv"
    result = runner.invoke(
        app, ["score", str(churn_app / "customers.parquet"), "--spec", str(spec), "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    assert "Scoring summary" in result.stdout and "rows read" in result.stdout
    assert pl.read_csv(out).height == 500


@pytest.mark.slow
def test_validate_reports_located_errors(churn_app: Path) -> None:
    spec = churn_app / "doorstep.yaml"
    spec.write_text(spec.read_text().replace("task: binary", "task: binari"))
    result = runner.invoke(app, ["validate", str(spec)])
    assert result.exit_code == 1
    assert "error (spec_invalid)" in result.stderr
    assert "model.task" in result.stderr and "did you mean 'binary'?" in result.stderr


def test_validate_checks_connector_settings_without_showing_secrets(
    churn_app: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CRM_WEBHOOK_SECRET", "whsec_not-base64-at-all!")
    result = runner.invoke(app, ["validate", str(churn_app / "doorstep.yaml")])
    assert result.exit_code == 1
    assert "connectors.crm.secret" in result.stderr
    assert "not-base64-at-all" not in result.output + result.stderr


@pytest.mark.slow
def test_demo_creates_scores_and_shows_reasons(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from doorstep.examples import churn

    original = churn.write_example
    monkeypatch.setattr(
        churn, "write_example", lambda d: original(d, rows=3_000, trees=30, customers=400)
    )
    target = tmp_path / "demo"
    result = runner.invoke(app, ["demo", str(target)])
    assert result.exit_code == 0, result.output
    assert "Created the churn example app" in result.stdout
    assert "churn risk by" in result.stdout
    assert (target / "decisions.parquet").is_file()
    again = runner.invoke(app, ["demo", str(target), "--show", "1"])
    assert again.exit_code == 0 and "Created" not in again.stdout


def test_init_refuses_unknown_example_and_non_empty_folder(tmp_path: Path) -> None:
    result = runner.invoke(app, ["init", str(tmp_path / "x"), "--example", "chrun"])
    assert result.exit_code == 1
    assert "unknown example 'chrun' (did you mean 'churn'?)" in result.stderr
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "file").write_text("x")
    result = runner.invoke(app, ["init", str(tmp_path / "full")])
    assert result.exit_code == 1 and "not empty" in result.stderr


def test_score_missing_input_file(churn_app_template: Path, tmp_path: Path) -> None:
    spec = churn_app_template / "doorstep.yaml"
    result = runner.invoke(
        app, ["score", str(tmp_path / "nope.csv"), "--spec", str(spec), "--out", "x.parquet"]
    )
    assert result.exit_code == 1 and "does not exist" in result.stderr
