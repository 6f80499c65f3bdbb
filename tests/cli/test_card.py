"""``doorstep card``: the card written as HTML (loads nothing) or Markdown, by suffix or
``--format``, and usage errors for what it cannot write."""

from __future__ import annotations

from pathlib import Path

from tests.services.monitor.test_report_html import assert_self_contained, parse
from typer.testing import CliRunner

from doorstep.cli.main import app
from doorstep.services.apps.examples import decide_sample
from doorstep.services.apps.loading import load_app
from doorstep.store import open_store

runner = CliRunner()


def test_card_as_html_and_markdown(churn_app: Path, tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'doorstep.db'}"
    spec = churn_app / "doorstep.yaml"
    with open_store(db) as store:
        decide_sample(load_app(spec), store, churn_app / "customers.parquet", count=120)
    out = tmp_path / "cards" / "model-card.html"
    base = ["card", "--spec", str(spec), "--db", db]
    result = runner.invoke(app, [*base, "--out", str(out)], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    said = result.stdout.replace("\n", "")
    assert f"Wrote {out}" in said and "loads nothing" in said
    assert "owner maria.lopez@example.com; 120 decisions, 0 with an outcome" in said
    assert "fairness by region" in said
    html = out.read_text()
    assert_self_contained(html, parse(html))
    assert '<dd id="owner">maria.lopez@example.com</dd>' in html

    text = tmp_path / "card.txt"
    result = runner.invoke(app, [*base, "--out", str(text), "--format", "md"])
    assert result.exit_code == 0, result.output
    assert text.read_text().startswith("# churn: model card")


def test_card_refuses_what_it_cannot_write(churn_app: Path, tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'doorstep.db'}"
    base = ["card", "--spec", str(churn_app / "doorstep.yaml"), "--db", db]
    wrong = runner.invoke(app, [*base, "--out", str(tmp_path / "card.pdf")])
    assert wrong.exit_code == 1 and "--out must name an .html or .md file" in wrong.stderr
    bad = runner.invoke(app, [*base, "--out", "x.html", "--format", "pdf"])
    assert bad.exit_code == 1 and "--format must be html or md. Got 'pdf'" in bad.stderr
    assert not (tmp_path / "card.pdf").exists()
