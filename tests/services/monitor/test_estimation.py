"""Quality estimated before outcomes in the monitoring report: on the churn example, whose
customers' outcomes are drawn from a known risk model, the estimate of each window holds the
realised quality within its interval while outcomes follow the reference; when they stop
following it (concept drift) the windows say the two diverged; an app whose reference holds
no outcomes says why nothing is estimated; and estimated metrics raise alerts."""

from __future__ import annotations

import shutil
from datetime import timedelta
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from rich.console import Console
from tests.services.monitor.test_drift import START

from doorstep.cli.monitor_render import render_report
from doorstep.core.spec.alerts import AlertsSpec
from doorstep.core.stats.calibration import ScoreCalibration
from doorstep.examples.churn import generate_customers
from doorstep.ids import new_id
from doorstep.services.apps.loading import LoadedApp, load_app
from doorstep.services.monitor.alert_observations import observe
from doorstep.services.monitor.drift import reference_profile
from doorstep.services.monitor.estimation import EstimationObserver, predicted_rule
from doorstep.services.monitor.report import monitoring_report
from doorstep.services.monitor.report_html import render_report_html
from doorstep.services.outcomes.ingest import record_outcomes
from doorstep.store import RecordRequest, Store
from doorstep.types import Decision, DecisionStatus, MonitoringReport

DAYS = 4
PER_DAY = 2_000
FLIP_DAY = 2
"""From this day on the outcomes are the reverse of what the risk model says (concept drift
in the ``flipped`` scenario)."""


def decide_and_observe(app: LoadedApp, store: Store, *, flipped: bool) -> None:
    fields = list(app.spec.feature_fields)
    for day in range(DAYS):
        customers = generate_customers(PER_DAY, seed=500 + day, start_id=1 + day * PER_DAY)
        scores = app.model.predict(customers.select(fields))
        churned = customers["churned"].to_numpy()
        if flipped and day >= FLIP_DAY:
            churned = 1 - churned
        rows = customers.select(["customer_id", *fields]).to_dicts()
        decisions = [
            Decision(
                id=new_id(),
                app="churn",
                entity_id=str(row.pop("customer_id")),
                model_version=app.model_version,
                model_hash="ab" * 32,
                inputs=row,
                score=float(scores[i]),
                action="retention_offer" if scores[i] >= 0.5 else "none",
                rule=None,
                review=False,
                control=False,
                status=DecisionStatus.DECIDED,
                reasons=None,
                reasons_text=None,
                created_at=START + timedelta(days=day, seconds=30 * i),
            )
            for i, row in enumerate(rows)
        ]
        store.record([RecordRequest(decisions)], actor="test")
        observed = (START + timedelta(days=DAYS + 1)).isoformat()
        body = [
            {"decision_id": d.id, "churned": int(churned[i]), "observed_at": observed}
            for i, d in enumerate(decisions)
        ]
        _, errors = record_outcomes(
            app.spec, store, body, actor="test", now=START + timedelta(days=DAYS + 1)
        )
        assert errors == []


@pytest.fixture
def held_out(churn_app_template: Path, tmp_path: Path) -> LoadedApp:
    """The churn example with a reference of customers the model was not trained on (the
    example's reference is a sample of its training data, on which a model is over-confident:
    calibration needs held-out rows, see monitoring.md)."""
    folder = tmp_path / "app"
    shutil.copytree(churn_app_template, folder)
    fresh = generate_customers(5_000, seed=99, start_id=1_000_000)
    fresh.drop("email").write_parquet(folder / "reference.parquet")
    return load_app(folder / "doorstep.yaml")


def report(app: LoadedApp, store: Store) -> MonitoringReport:
    profile = reference_profile(app)
    assert profile is not None
    return monitoring_report(
        app.spec,
        store,
        window="day",
        since=START,
        until=START + timedelta(days=DAYS),
        now=START + timedelta(days=DAYS + 1),
        profile=profile,
    )


@pytest.mark.slow
def test_estimates_hold_the_realised_quality_while_outcomes_follow_the_reference(
    held_out: LoadedApp, store: Store
) -> None:
    decide_and_observe(held_out, store, flipped=False)
    found = report(held_out, store).estimated
    assert found is not None and found.available and found.calibration is not None
    assert found.calibration.ece_calibrated < found.calibration.ece_raw
    assert found.predicted == "action"
    for window in found.windows:
        assert window.rows == PER_DAY
        assert window.diverged == ()
        for name in ("auc", "precision", "recall", "f1", "expected_value"):
            estimate, realised = window.estimated[name], window.realised[name]
            assert estimate.low is not None and estimate.high is not None
            assert realised.value is not None
            # the realised value within the estimate's interval, widened by its own
            slack = 0.0 if realised.low is None else (realised.high or 0) - realised.low
            assert estimate.low - slack <= realised.value <= estimate.high + slack, name


@pytest.mark.slow
def test_concept_drift_shows_as_estimate_and_realised_diverging(
    held_out: LoadedApp, store: Store
) -> None:
    decide_and_observe(held_out, store, flipped=True)
    found = report(held_out, store)
    estimated = found.estimated
    assert estimated is not None
    assert [bool(w.diverged) for w in estimated.windows] == [False, False, True, True]
    assert "auc" in estimated.windows[-1].diverged
    out = Console(width=200, record=True)
    render_report(found, out)
    text = out.export_text()
    assert "Estimated quality (before outcomes)" in text and "≠" in text
    html = render_report_html(found)
    assert 'id="chart-estimated-auc"' in html and 'id="chart-multivariate"' in html
    assert html.count("data-diverged=") == 2  # the two flipped days
    chart = html.split('id="chart-estimated-auc"')[1].split("</svg>")[0]
    assert ">estimated<" in chart and ">realised<" in chart  # both lines, in the legend


@pytest.mark.slow
def test_estimated_metrics_raise_alerts(held_out: LoadedApp, store: Store) -> None:
    decide_and_observe(held_out, store, flipped=False)
    found = report(held_out, store)
    assert found.estimated is not None
    auc = found.estimated.windows[-1].estimated["auc"].value
    assert auc is not None
    alerts = AlertsSpec.model_validate(
        {"connectors": ["x"], "drift": False, "estimated": {"auc": {"alert": auc + 0.01}}}
    )
    spec = held_out.spec.model_copy(
        update={"monitoring": held_out.spec.monitoring.model_copy(update={"alerts": alerts})}
    )
    seen = {o.subject: o for o in observe(spec, alerts, found)}
    assert seen["estimated.auc"].status == "alert"
    assert seen["estimated.auc"].kind == "quality"  # a retraining hook on quality counts it
    calm = AlertsSpec.model_validate(
        {"connectors": ["x"], "drift": False, "estimated": {"auc": {"alert": auc - 0.2}}}
    )
    assert {o.subject: o for o in observe(spec, calm, found)}["estimated.auc"].status == "ok"


def test_a_reference_without_outcomes_says_why_nothing_is_estimated(
    churn_app_template: Path, tmp_path: Path, store: Store
) -> None:
    folder = tmp_path / "app"
    shutil.copytree(churn_app_template, folder)
    reference = folder / "reference.parquet"
    pl.read_parquet(reference).drop("churned").write_parquet(reference)
    app = load_app(folder / "doorstep.yaml")
    assert app.reference_outcomes is None
    found = report(app, store).estimated
    assert found is not None and not found.available
    assert found.note is not None and "'churned'" in found.note
    assert found.to_dict()["windows"] == []


def test_reference_outcomes_are_kept_row_for_row(churn_loaded_app: LoadedApp) -> None:
    outcomes = churn_loaded_app.reference_outcomes
    reference = churn_loaded_app.reference
    assert outcomes is not None and reference is not None
    assert outcomes.len() == reference.height
    assert set(np.unique(outcomes.to_numpy()).tolist()) == {0, 1}


def test_a_score_threshold_is_the_positive_prediction_when_set(
    churn_loaded_app: LoadedApp,
) -> None:
    spec = churn_loaded_app.spec
    calibration = ScoreCalibration("none", np.empty(0), np.empty(0), 0, 0, 0.0, 0.0)
    frame = pl.DataFrame(
        {"score": [0.1, 0.35, 0.6, 0.9], "action": ["none", "none", "none", "retention_offer"]}
    )
    by_action = EstimationObserver(spec, calibration)
    by_action.update(0, frame)
    by_action.finish(0)
    threshold = spec.model_copy(
        update={"monitoring": spec.monitoring.model_copy(update={"threshold": 0.3})}
    )
    by_score = EstimationObserver(threshold, calibration)
    by_score.update(0, frame)
    by_score.finish(0)
    assert by_action.results[0][1]["precision"].value == pytest.approx(0.9)  # the action alone
    assert by_score.results[0][1]["precision"].value == pytest.approx((0.35 + 0.6 + 0.9) / 3)
    assert predicted_rule(threshold) == "score >= 0.3" and predicted_rule(spec) == "action"
