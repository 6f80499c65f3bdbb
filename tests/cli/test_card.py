"""``doorstep card``: the card written as HTML (loads nothing) or Markdown, by suffix or
``--format``, and usage errors for what it cannot write."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
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


@pytest.mark.slow
def test_the_card_of_an_app_by_name_has_a_page_per_version(
    churn_app: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from doorstep.examples.churn import generate_customers, train_model
    from doorstep.services.rollout.register import register_spec_model, register_version
    from doorstep.services.rollout.serving import staged_app
    from doorstep.services.rollout.stages import Caller, start_shadow

    db = f"sqlite:///{tmp_path / 'doorstep.db'}"
    app_ = load_app(churn_app / "doorstep.yaml")
    retrained = tmp_path / "model-v2.lgb.txt"
    booster = train_model(generate_customers(2_000, seed=11), trees=20, seed=11)
    booster.save_model(str(retrained))  # type: ignore[attr-defined]
    kept = tmp_path / "kept"
    with open_store(db) as store:
        register_spec_model(app_, store, actor="doorstep serve", models=kept)
        decide_sample(app_, store, churn_app / "customers.parquet", count=80)
        register_version(app_, store, retrained, version="2", models=kept, actor="cli:ana",
                         notes="retrained on Q4")  # fmt: skip
        start_shadow(store, "churn", "2", caller=Caller("cli:ana"), reason="beside v1")
        decide_sample(staged_app(app_, store), store, churn_app / "customers.parquet", count=50)
    monkeypatch.chdir(churn_app)  # the app is found by its name
    out = tmp_path / "model-card.html"
    result = runner.invoke(app, ["card", "churn", "--out", str(out), "--db", db])
    assert result.exit_code == 0, result.output
    html = out.read_text()
    assert_self_contained(html, parse(html))
    served = section(html, f"version-{app_.model_version}")
    assert f"Version {app_.model_version}: champion, served now" in served
    assert "decisions 130" in served  # all it decided, with or without the shadow
    shadow = section(html, "version-2")
    assert shadow.startswith("Version 2: shadow ") and "retrained on Q4" in shadow
    assert "cli:ana" in shadow and "beside v1" in shadow  # who moved it and why
    assert "shadow rows 50" in shadow  # what it scored beside the champion
    assert "explanations adding up on the reference data" in shadow

    md = tmp_path / "MODEL_CARD.md"
    result = runner.invoke(app, ["card", "churn", "--out", str(md), "--db", db])
    assert result.exit_code == 0, result.output
    text = md.read_text()
    assert f"### Version {app_.model_version}: champion, served now" in text
    assert "### Version 2: shadow" in text and "| shadow rows | 50 |" in text


def section(html: str, section_id: str) -> str:
    """The text of the section ``section_id``, on one line."""
    found = re.search(rf'<section[^>]* id="{section_id}"[^>]*>(.*?)</section>', html, re.S)
    assert found is not None, section_id
    return " ".join(re.sub(r"<[^>]+>", " ", found.group(1)).split())
