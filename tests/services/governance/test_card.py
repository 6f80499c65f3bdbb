"""The model card of the churn example on a real store (SQLite and PostgreSQL): every section of
the HTML and the Markdown holds the numbers of the objects it is made from, checked against
independent computations, and the HTML loads nothing."""

from __future__ import annotations

import re
from pathlib import Path

import polars as pl
import pytest
from markupsafe import escape
from sklearn.metrics import roc_auc_score
from tests.services.monitor.test_report_html import assert_self_contained, interval, parse, row

from doorstep.core.stats.fairness_report import SELECTED
from doorstep.services.apps.examples import decide_sample
from doorstep.services.apps.loading import load_app
from doorstep.services.governance.card import ModelCard, model_card
from doorstep.services.governance.card_html import render_card_html
from doorstep.services.governance.card_markdown import render_card_markdown
from doorstep.services.monitor.report_html import report_csp
from doorstep.services.outcomes.example import write_demo_outcomes
from doorstep.services.outcomes.ingest import import_outcomes
from doorstep.store import DecisionQuery, Store

CARD_TEXT = """
card:
  intended_use: Choose which subscription customers get a retention offer.
  out_of_scope: Pricing & credit decisions.
  limitations: Trained on one country's customers.
"""


@pytest.fixture
def card(churn_app: Path, store: Store, tmp_path: Path) -> ModelCard:
    spec = churn_app / "doorstep.yaml"
    spec.write_text(spec.read_text() + CARD_TEXT)
    app = load_app(spec)
    customers = churn_app / "customers.parquet"
    decide_sample(app, store, customers, count=400)
    made = write_demo_outcomes(app.name, store, customers, tmp_path / "outcomes.csv")
    import_outcomes(app.spec, store, made.path, actor="test")
    meta = app.model.metadata
    store.register_model_version("churn", app.model_version, meta.content_hash, "ana", actor="t")
    store.append_audit("model.promoted", f"churn/{app.model_version}", {"by": "bo"}, actor="bo")
    return model_card(app, store, spec_path=spec, profiles=tmp_path / "profiles")


def test_the_html_card_holds_every_section_and_its_numbers(
    card: ModelCard, churn_app: Path, store: Store
) -> None:
    html = render_card_html(card)
    assert_self_contained(html, parse(html))
    assert f'content="{escape(report_csp())}"' in html
    sections = re.findall(r'<section id="([a-z-]+)"', html)
    assert sections == [
        "details", "intended-use", "factors", "metrics", "evaluation-data", "offline-quality",
        "importance", "live", "fairness", "caveats", "versions",
    ]  # fmt: skip
    assert '<dd id="owner">maria.lopez@example.com</dd>' in html
    assert card.model_version in html and card.content_hash in html
    assert "Choose which subscription customers get a retention offer." in html
    assert "Pricing &amp; credit decisions." in html  # escaped, not raw
    assert "Trained on one country&#39;s customers." in html

    region = re.search(r'<tr data-input="region">(.*?)</tr>', html, re.S)
    assert region is not None and "feature, sensitive" in region.group(1)
    email = re.search(r'<tr data-input="email">(.*?)</tr>', html, re.S)
    assert email is not None and "not a feature, personal data" in email.group(1)

    reference = pl.read_parquet(churn_app / "reference.parquet")
    assert f"{reference.height} rows of <code>reference.parquet</code>" in html
    spend = re.search(r'<tr data-reference="monthly_spend">(.*?)</tr>', html, re.S)
    assert spend is not None and f"{float(reference['monthly_spend'].mean()):.2f}" in spend.group(1)  # type: ignore[arg-type]

    # offline quality: the model's scores on the reference rows against their labels
    app = load_app(churn_app / "doorstep.yaml")
    scores = app.model.predict(reference.select(list(app.spec.feature_fields)))
    auc = roc_auc_score(reference["churned"].to_numpy(), scores)
    offline = card.reference.quality
    assert offline is not None and offline.labelled == reference.height
    assert offline.metric("auc") is not None
    assert offline.metric("auc").value == pytest.approx(auc, abs=1e-9)  # type: ignore[union-attr]
    assert interval(offline.metric("auc")) in row(html, "offline-auc")

    live = card.monitoring.quality.total
    assert live.labelled == 400
    assert interval(live.metric("auc")) in row(html, "live-auc")
    assert card.monitoring.roi.conclusion.replace("_", " ") in html

    # importance: the mean absolute effect over explained decisions, read back independently
    page = store.list_decisions(DecisionQuery(app="churn", limit=1000))
    explained = [d for d in page.items if d.reasons]
    top = card.importance.features[0]
    effects = [
        abs(r["effect"]) for d in explained for r in d.reasons or [] if r["feature"] == top.feature
    ]
    assert card.importance.explained == len(explained) > 0
    assert top.mean_abs_effect.value == pytest.approx(sum(effects) / len(explained))
    assert all(
        top.mean_abs_effect.value >= (f.mean_abs_effect.value or 0.0)  # type: ignore[operator]
        for f in card.importance.features
    )
    assert f'data-feature="{top.feature}"' in html

    assert card.fairness is not None
    (by_region,) = card.fairness.attributes
    parity = by_region.parity_difference[SELECTED]
    assert by_region.attribute == "region" and sum(g.decisions for g in by_region.groups) == 400
    shown = re.search(r'data-metric="demographic_parity_difference">(.*?)</li>', html)
    assert shown is not None and interval(parity.estimate, 1, 100) in shown.group(1)
    for group in by_region.groups:
        assert f'<tr data-group="{group.group}"><th scope="row">{group.group}</th>' in html

    versions = re.search(r'<tr data-version="([^"]+)">', html)
    assert versions is not None and versions.group(1) == card.model_version
    kinds = re.findall(r'<tr data-kind="([^"]+)">', html)
    assert kinds == ["model_version.registered", "model.promoted"]


def test_the_markdown_card_has_the_same_sections_and_numbers(card: ModelCard) -> None:
    text = render_card_markdown(card)
    headings = re.findall(r"^## (.+)$", text, re.M)
    assert headings == [
        "Model details", "Intended use", "Inputs and factors", "Decisions and metrics",
        "Reference data", "Quality on the reference data", "What drives the score",
        "Live quality, ROI and drift", "Fairness", "Limitations and ethical considerations",
        "Versions and approvals",
    ]  # fmt: skip
    assert "| owner (accountable) | maria.lopez@example.com |" in text
    assert f"| AUC | {interval(card.monitoring.quality.total.metric('auc'))} |" in text
    assert card.reference.quality is not None
    assert f"| AUC | {interval(card.reference.quality.metric('auc'))} |" in text
    assert (
        "| `region` | Region | category |  | north, south, east, west | feature, sensitive |"
        in (text)
    )
    assert "### By region" in text and "model.promoted" in text
    assert "Pricing & credit decisions." in text


def test_without_sensitive_inputs_or_reference_labels_the_card_says_so(
    churn_app: Path, store: Store, tmp_path: Path
) -> None:
    spec = churn_app / "doorstep.yaml"
    spec.write_text(spec.read_text().replace(", sensitive: true", ""))
    reference = churn_app / "reference.parquet"
    pl.read_parquet(reference).drop("churned").write_parquet(reference)
    card = model_card(load_app(spec), store, spec_path=spec)
    html = render_card_html(card)
    assert "The spec marks no input as sensitive" in html
    assert "no &#39;churned&#39; column" in html and 'id="offline-auc"' not in html
    assert "No stored explanations in the range (0 decisions read)" in html
    assert "Not stated: add card.out_of_scope to the spec." in html
