"""The monitoring report end to end on a real store: outcomes drawn from a known true model with
a known uplift for treated customers; the report's quality agrees with scikit-learn and its ROI
interval covers the true uplift. On SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pytest
from sklearn.metrics import brier_score_loss, precision_score, recall_score, roc_auc_score

from doorstep.core.spec.loader import parse_spec
from doorstep.core.spec.models import Spec
from doorstep.errors import InputError
from doorstep.ids import new_id
from doorstep.services.monitor.report import monitoring_report, window_start
from doorstep.services.outcomes.ingest import record_outcomes
from doorstep.store import RecordRequest, Store
from doorstep.types import (
    Counts,
    Decision,
    DecisionStatus,
    Interval,
    QualityMetric,
    QualityReport,
    RoiReport,
    RoiUnavailable,
)

SPEC = """\
app: {name: churn, owner: maria@example.com}
model: {path: model.lgb.txt, task: binary, positive_class: 1}
inputs:
  id: customer_id
  fields:
    tenure_months: {type: int, min: 0}
policy:
  control_group: 0.2
  rules:
    - {when: "score >= 0.5", action: retention_offer}
actions:
  retention_offer: {value: 240, cost: 30}
monitoring:
  window: day
  outcome: {horizon: 30d, field: churned}
  min_samples: {quality: 50, roi: 100}
"""
START = datetime(2025, 3, 1, tzinfo=UTC)
NOW = START + timedelta(days=40)
RELATIVE_EFFECT = 0.3
"""Treated customers churn 30% less often than they would have."""


def spec(text: str = SPEC) -> Spec:
    return parse_spec(text, file="doorstep.yaml", env={}).spec


def metric(quality: QualityReport, name: QualityMetric) -> Interval:
    found = quality.metric(name)
    assert found is not None, name
    return found


def simulate(store: Store, n: int, seed: int) -> dict[str, Any]:
    """Decisions over ten days whose scores are the true churn probabilities, and the
    outcomes: churn drawn from the true probability, 30% lower when treated."""
    rng = np.random.default_rng(seed)
    true_p = rng.beta(2, 2.5, n)
    score = np.clip(true_p + rng.normal(0, 0.08, n), 0, 1)  # an imperfect model
    acting = score >= 0.5
    control = acting & (rng.random(n) < 0.2)
    treated = acting & ~control
    churned = rng.random(n) < np.where(treated, true_p * (1 - RELATIVE_EFFECT), true_p)
    created = [START + timedelta(minutes=int(m)) for m in rng.integers(0, 10 * 24 * 60, n)]
    decisions = [
        Decision(
            id=new_id(),
            app="churn",
            entity_id=f"C-{i}",
            model_version="v1",
            model_hash="ab" * 32,
            inputs={"tenure_months": int(i % 60)},
            score=float(score[i]),
            action="retention_offer" if acting[i] else "none",
            rule="rule 1" if acting[i] else None,
            review=False,
            control=bool(control[i]),
            status=DecisionStatus.HELD_OUT if control[i] else DecisionStatus.DECIDED,
            reasons=None,
            reasons_text=None,
            created_at=created[i],
        )
        for i in range(n)
    ]
    for start in range(0, n, 5_000):
        store.record([RecordRequest(decisions[start : start + 5_000])], actor="test")
    outcomes = [
        {
            "customer_id": f"C-{i}",
            "churned": int(churned[i]),
            "observed_at": (created[i] + timedelta(days=5)).isoformat(),
        }
        for i in range(n)
    ]
    for start in range(0, n, 5_000):
        result, errors = record_outcomes(
            spec(), store, outcomes[start : start + 5_000], actor="test", now=NOW
        )
        assert errors == [] and result.matched == len(outcomes[start : start + 5_000])
    return {
        "score": score,
        "churned": churned,
        "acting": acting,
        "control": control,
        "true_uplift": RELATIVE_EFFECT * float(true_p[treated].mean()),
        "created": created,
    }


def test_report_agrees_with_sklearn_and_covers_the_true_uplift(store: Store) -> None:
    truth = simulate(store, 12_000, seed=42)
    report = monitoring_report(
        spec(), store, since=START, until=START + timedelta(days=10), now=NOW
    )
    total = report.quality.total
    score, churned, acting = truth["score"], truth["churned"], truth["acting"]
    assert total.labelled == 12_000 and total.enough
    auc = metric(total, "auc")
    assert auc.value == pytest.approx(roc_auc_score(churned, score), abs=1e-9)
    assert metric(total, "brier").value == pytest.approx(brier_score_loss(churned, score), abs=1e-9)
    assert metric(total, "precision").value == pytest.approx(precision_score(churned, acting))
    assert metric(total, "recall").value == pytest.approx(recall_score(churned, acting))
    assert auc.low is not None and auc.value is not None and auc.high is not None
    assert auc.low < auc.value < auc.high
    assert sum(b.count for b in total.calibration) == 12_000

    days = report.quality.windows
    assert len(days) == 10 and days[0].start == START
    assert sum(d.quality.labelled for d in days) == 12_000
    first = np.array([c < START + timedelta(days=1) for c in truth["created"]])
    assert days[0].quality.labelled == first.sum()
    assert metric(days[0].quality, "auc").value == pytest.approx(
        roc_auc_score(churned[first], score[first]), abs=1e-9
    )

    roi = report.roi
    assert isinstance(roi, RoiReport)
    uplift = roi.uplift
    assert uplift.low is not None and uplift.high is not None
    assert uplift.low < truth["true_uplift"] < uplift.high, (uplift, truth["true_uplift"])
    control = truth["control"]
    treated = acting & ~control
    assert roi.control.outcomes == control.sum()
    assert roi.treated.outcomes == treated.sum()
    observed = churned[control].mean() - churned[treated].mean()
    assert uplift.value == pytest.approx(observed)
    assert roi.value.value == pytest.approx(observed * 240 * treated.sum() - 30 * treated.sum())
    assert roi.conclusion == "uplift", roi.message
    assert report.counts == Counts(
        decisions=12_000,
        labelled=12_000,
        would_act=int(acting.sum()),
        control=int(control.sum()),
        outcomes_matched=12_000,
        unmatched_outcomes={},
        labels_not_understood=0,
        model_versions={"v1": 12_000},
    )
    assert report.drift is None


def test_a_small_control_group_is_called_too_small(store: Store) -> None:
    simulate(store, 600, seed=7)
    report = monitoring_report(
        spec(), store, since=START, until=START + timedelta(days=10), now=NOW
    )
    roi = report.roi
    assert isinstance(roi, RoiReport) and roi.conclusion == "too_small"
    assert roi.needed_control_outcomes is not None and roi.needed_control_outcomes > 0
    assert "still too small for a conclusion" in roi.message


def test_windows_default_to_the_spec_and_the_last_periods() -> None:
    from doorstep.services.monitor.ranges import resolve_range

    def _resolve_range(*args: Any) -> Any:
        return resolve_range(args[0], None, *args[1:])

    span = _resolve_range(spec(), None, None, None, None, NOW + timedelta(hours=5))
    assert span.window == "day" and span.count == 30
    assert span.until == NOW + timedelta(days=1)
    weeks = _resolve_range(spec(), "week", None, None, 4, NOW)
    assert weeks.since.weekday() == 0 and weeks.count == 4
    assert window_start(datetime(2025, 3, 5, 13, 7, tzinfo=UTC), "week") == datetime(
        2025, 3, 3, tzinfo=UTC
    )
    with pytest.raises(InputError, match="at most 1000 are reported"):
        _resolve_range(spec(), "hour", START - timedelta(days=365), NOW, None, NOW)
    with pytest.raises(InputError, match="must be hour, day, week, month or a number of rows"):
        _resolve_range(spec(), "fortnight", None, None, None, NOW)


def test_overrides_are_counted_and_judged(store: Store) -> None:
    rows = []
    # reviewers withheld the offer from four customers: three stayed (right), one churned
    for i, (status, final, churned) in enumerate(
        [
            ("overridden", "none", 0),
            ("overridden", "none", 0),
            ("overridden", "none", 0),
            ("overridden", "none", 1),
            ("approved", "retention_offer", 1),
            ("pending_review", None, 0),
        ]
    ):
        rows.append(
            Decision(
                id=new_id(),
                app="churn",
                entity_id=f"R-{i}",
                model_version="v1",
                model_hash="ab" * 32,
                inputs={"tenure_months": 3},
                score=0.55,
                action="retention_offer",
                rule="rule 1",
                review=True,
                control=False,
                status=DecisionStatus(status),
                reasons=None,
                reasons_text=None,
                created_at=START + timedelta(hours=i),
                final_action=final,
            )
        )
        store.record([RecordRequest([rows[-1]])], actor="t")
        if status == "pending_review":
            continue
        record_outcomes(
            spec(),
            store,
            [{"decision_id": rows[-1].id, "churned": churned, "observed_at": NOW.isoformat()}],
            actor="t",
            now=NOW,
        )
    report = monitoring_report(spec(), store, since=START, until=START + timedelta(days=1), now=NOW)
    overrides = report.overrides
    assert (overrides.reviewed, overrides.overridden, overrides.pending_review) == (5, 4, 1)
    assert overrides.override_rate.value == pytest.approx(0.8)
    assert overrides.judgement is not None
    assert (overrides.judgement.judged, overrides.judgement.right) == (4, 3)
    assert overrides.judgement.right_rate.value == pytest.approx(0.75)
    day = overrides.windows[0]
    assert day.judgement is not None
    assert (day.reviewed, day.overridden, day.judgement.judged, day.judgement.right) == (5, 4, 4, 3)

    hourly = monitoring_report(
        spec(), store, window="hour", since=START, until=START + timedelta(hours=8), now=NOW
    ).overrides.windows
    assert [(w.reviewed, w.overridden, w.pending_review) for w in hourly] == [
        (1, 1, 0), (1, 1, 0), (1, 1, 0), (1, 1, 0), (1, 0, 0), (0, 0, 1), (0, 0, 0), (0, 0, 0),
    ]  # fmt: skip
    judged = [w.judgement for w in hourly]
    assert all(j is not None for j in judged)
    assert [(j.judged, j.right) for j in judged[:5] if j] == [(1, 1)] * 3 + [(1, 0), (0, 0)]
    assert judged[3] is not None and judged[3].right_rate.value == 0.0
    assert judged[4] is not None and judged[4].right_rate.value is None
    assert hourly[0].start == START and len(hourly) == 8


def test_quality_on_untreated_decisions_and_a_threshold(store: Store) -> None:
    truth = simulate(store, 3_000, seed=3)
    text = SPEC.replace(
        "  window: day\n", "  window: day\n  quality_on: untreated\n  threshold: 0.7\n"
    )
    report = monitoring_report(
        spec(text), store, since=START, until=START + timedelta(days=10), now=NOW
    )
    untreated = ~(truth["acting"] & ~truth["control"])
    score, churned = truth["score"][untreated], truth["churned"][untreated]
    total = report.quality.total
    assert report.quality.on == "untreated" and total.labelled == untreated.sum()
    assert metric(total, "auc").value == pytest.approx(roc_auc_score(churned, score), abs=1e-9)
    assert metric(total, "precision").value == pytest.approx(precision_score(churned, score >= 0.7))


def test_regression_report(store: Store) -> None:
    text = (
        SPEC.replace("task: binary, positive_class: 1", "task: regression")
        .replace("score >= 0.5", "score >= 100")
        .replace("field: churned", "field: spend, goal: increase")
    )
    rng = np.random.default_rng(1)
    n = 400
    predictions = rng.normal(100, 20, n)
    spend = predictions + rng.normal(0, 10, n)
    decisions = [
        Decision(
            id=new_id(),
            app="churn",
            entity_id=f"C-{i}",
            model_version="v1",
            model_hash="ab" * 32,
            inputs={"tenure_months": 1},
            score=float(predictions[i]),
            action="retention_offer" if predictions[i] >= 100 else "none",
            rule=None,
            review=False,
            control=False,
            status=DecisionStatus.DECIDED,
            reasons=None,
            reasons_text=None,
            created_at=START + timedelta(minutes=i),
        )
        for i in range(n)
    ]
    store.record([RecordRequest(decisions)], actor="t")
    body = [
        {"entity_id": f"C-{i}", "spend": float(spend[i]), "observed_at": "2025-03-02T00:00:00Z"}
        for i in range(n)
    ]
    result, errors = record_outcomes(spec(text), store, body, actor="t", now=NOW)
    assert errors == [] and result.matched == n
    report = monitoring_report(
        spec(text), store, since=START, until=START + timedelta(days=1), now=NOW
    )
    total = report.quality.total
    assert total.task == "regression" and total.labelled == n
    assert metric(total, "mae").value == pytest.approx(np.mean(np.abs(predictions - spend)))
    assert metric(total, "rmse").value == pytest.approx(
        np.sqrt(np.mean((predictions - spend) ** 2))
    )
    assert report.roi.conclusion == "too_small"  # no control group at all
    assert report.overrides.judgement is None
    assert "judged" not in report.to_dict()["overrides"]


def test_multiclass_accuracy_and_roi_on_a_named_class(store: Store) -> None:
    text = (
        SPEC.replace("task: binary, positive_class: 1", "task: multiclass")
        .replace('"score >= 0.5"', "\"predicted_class = 'gold'\"")
        .replace("field: churned", "field: tier")
    )
    rows = []
    actuals = ["gold", "silver", "silver", "gold"]
    for i, predicted in enumerate(["gold", "gold", "silver", "bronze"]):
        rows.append(
            Decision(
                id=new_id(),
                app="churn",
                entity_id=f"M-{i}",
                model_version="v1",
                model_hash="ab" * 32,
                inputs={"tenure_months": 1},
                score=0.7,
                action="retention_offer" if predicted == "gold" else "none",
                rule=None,
                review=False,
                control=False,
                status=DecisionStatus.DECIDED,
                reasons=None,
                reasons_text=None,
                created_at=START + timedelta(hours=i),
                predicted_class=predicted,
            )
        )
    store.record([RecordRequest(rows)], actor="t")
    body = [
        {"decision_id": d.id, "tier": actual, "observed_at": NOW.isoformat()}
        for d, actual in zip(rows, actuals, strict=True)
    ]
    result, errors = record_outcomes(spec(text), store, body, actor="t", now=NOW)
    assert errors == [] and result.matched == 4
    report = monitoring_report(
        spec(text), store, since=START, until=START + timedelta(days=1), now=NOW
    )
    total = report.quality.total
    assert total.task == "multiclass" and metric(total, "accuracy").value == 0.5
    assert isinstance(report.roi, RoiUnavailable) and report.roi.conclusion == "unavailable"
    assert "monitoring.outcome.positive" in report.roi.message
    named = text.replace("field: tier", "field: tier, positive: gold")
    roi = monitoring_report(
        spec(named), store, since=START, until=START + timedelta(days=1), now=NOW
    ).roi
    assert isinstance(roi, RoiReport)
    assert roi.treated.outcomes == 2 and roi.conclusion == "too_small"
