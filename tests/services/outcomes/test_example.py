"""The churn example's outcomes come from its true model with a known uplift; the demo's
feedback step imports them and reports quality and ROI."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl
import pytest
from rich.console import Console
from sklearn.metrics import roc_auc_score

from doorstep.examples.churn import churn_probability, generate_customers
from doorstep.examples.churn.outcomes import RETENTION_EFFECT, simulate_outcomes, true_uplift
from doorstep.services.apps.examples import decide_sample
from doorstep.services.apps.loading import load_app
from doorstep.services.monitor.report import monitoring_report
from doorstep.services.outcomes.example import write_demo_outcomes
from doorstep.services.outcomes.ingest import import_outcomes
from doorstep.services.outcomes.training import export_training_data
from doorstep.store import open_store
from doorstep.types import RoiReport


def test_the_true_model_generated_the_labels() -> None:
    customers = generate_customers(20_000, seed=3)
    probability = churn_probability(customers)
    assert probability.mean() == pytest.approx(customers["churned"].mean(), abs=0.01)
    assert roc_auc_score(customers["churned"], probability) > 0.75


def test_treated_customers_churn_less_by_the_known_effect() -> None:
    customers = generate_customers(40_000, seed=5)
    ids = customers["customer_id"].to_list()
    treated = {c: i % 2 == 0 for i, c in enumerate(ids)}
    from datetime import UTC, datetime

    outcomes = simulate_outcomes(customers, treated, observed_at=datetime.now(UTC), seed=1)
    joined = outcomes.join(customers.select("customer_id"), on="customer_id")
    acted = np.array([treated[c] for c in joined["customer_id"].to_list()])
    rates = joined["churned"].to_numpy()
    expected = true_uplift(customers, treated, RETENTION_EFFECT) / acted.mean()
    assert rates[~acted].mean() - rates[acted].mean() == pytest.approx(expected, abs=0.01)


@pytest.mark.slow
def test_demo_feedback_round_trip(churn_app: Path, tmp_path: Path) -> None:
    app = load_app(churn_app / "doorstep.yaml")
    url = f"sqlite:///{tmp_path / 'doorstep.db'}"
    with open_store(url) as store:
        decided = decide_sample(app, store, churn_app / "customers.parquet", count=500)
        made = write_demo_outcomes(
            app.name, store, churn_app / "customers.parquet", tmp_path / "outcomes.csv"
        )
        summary = import_outcomes(app.spec, store, made.path, actor="test")
        report = monitoring_report(app.spec, store)
        export_training_data(app.spec, store, tmp_path / "training.parquet")
    assert decided == 500 and made.rows == 500
    assert summary.recorded.matched == 500 and summary.refused == 0
    total = report.quality.total
    training = pl.read_parquet(tmp_path / "training.parquet")
    auc = total.metric("auc")
    assert total.labelled == 500 and auc is not None
    assert auc.value == pytest.approx(
        roc_auc_score(training["churned"], training["score"]), abs=1e-9
    )
    roi = report.roi
    assert isinstance(roi, RoiReport)
    assert roi.treated.outcomes + roi.control.outcomes == report.counts.would_act
    assert roi.uplift.low is not None and roi.uplift.high is not None
    assert roi.uplift.low < made.true_uplift < roi.uplift.high
    assert roi.message


@pytest.mark.slow
def test_show_feedback_prints_the_report(churn_app: Path, tmp_path: Path) -> None:
    from doorstep.cli.demo_outcomes import show_feedback

    app = load_app(churn_app / "doorstep.yaml")
    url = f"sqlite:///{tmp_path / 'doorstep.db'}"
    with open_store(url) as store:
        decide_sample(app, store, churn_app / "customers.parquet", count=300)
    console = Console(record=True, width=120)
    html = show_feedback(console, app, churn_app, db=url, home=tmp_path / "home")
    text = console.export_text()
    assert "300 customers' churn drawn from the example's true model" in text
    assert "imported (300 new, 0 known)" in text
    assert "Live quality" in text and "ROI" in text
    assert "Drift against the reference data" in text  # the demo shows drift too
    assert html == churn_app / "report.html" and f"{html}" in text.replace("\n", "")
    page = html.read_text()
    assert 'churn <span class="muted">monitoring report</span>' in page
    assert 'id="drift-heatmap"' in page and 'id="roi-message"' in page
    assert len(list((tmp_path / "home" / "profiles").glob("churn-*.arrow"))) == 1
    show_feedback(console, app, churn_app, db=url, home=tmp_path / "home")  # nothing new
    assert "imported (0 new, 300 known)" in console.export_text()
