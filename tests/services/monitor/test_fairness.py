"""Fairness of stored decisions end to end on a real store (SQLite and PostgreSQL): decisions
and outcomes recorded, then grouped by a sensitive category, by bands of a sensitive age and by
model version; the numbers equal Fairlearn's on the same rows."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pytest
from fairlearn.metrics import (
    MetricFrame,
    demographic_parity_difference,
    equalized_odds_difference,
    selection_rate,
    true_positive_rate,
)

from doorstep.core.spec.loader import parse_spec
from doorstep.core.spec.models import Spec
from doorstep.core.stats.fairness_report import SELECTED
from doorstep.errors import InputError
from doorstep.ids import new_id
from doorstep.services.monitor.fairness import MISSING, fairness_report
from doorstep.services.outcomes.ingest import record_outcomes
from doorstep.store import RecordRequest, Store
from doorstep.types import Decision, DecisionStatus

SPEC = """\
app: {name: churn, owner: maria@example.com}
model: {path: model.lgb.txt, task: binary, positive_class: 1}
inputs:
  id: customer_id
  fields:
    tenure_months: {type: int, min: 0}
    region: {type: category, values: [north, south, east], sensitive: true, feature: false}
    age: {type: int, min: 18, sensitive: true, feature: false, required: false}
policy:
  rules:
    - {when: "score >= 0.7", action: call_customer}
    - {when: "score >= 0.5", action: retention_offer}
actions:
  retention_offer: {value: 240, cost: 30}
  call_customer: {value: 240, cost: 60}
monitoring:
  window: day
  outcome: {horizon: 30d, field: churned}
  fairness:
    min_group: 40
    bands:
      age_band: {field: age, edges: [30, 50]}
"""
START = datetime(2025, 3, 1, tzinfo=UTC)
NOW = START + timedelta(days=20)


def spec(text: str = SPEC) -> Spec:
    return parse_spec(text, file="doorstep.yaml", env={}).spec


def simulate(store: Store, n: int, seed: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    region = rng.choice(["north", "south", "east"], n, p=[0.5, 0.49, 0.01])
    age = rng.integers(18, 80, n).astype(object)
    age[rng.random(n) < 0.03] = None
    score = np.clip(rng.beta(2, 2.5, n) + np.where(region == "south", 0.08, 0.0), 0, 1)
    action = np.where(
        score >= 0.7, "call_customer", np.where(score >= 0.5, "retention_offer", "none")
    )
    version = np.where(rng.random(n) < 0.7, "v1", "v2")
    labelled = rng.random(n) < 0.8
    churned = rng.random(n) < score
    created = [START + timedelta(minutes=int(m)) for m in rng.integers(0, 5 * 24 * 60, n)]
    decisions = [
        Decision(
            id=new_id(),
            app="churn",
            entity_id=f"C-{i}",
            model_version=str(version[i]),
            model_hash="ab" * 32,
            inputs={"tenure_months": i % 60, "region": str(region[i]), "age": age[i]},
            score=float(score[i]),
            action=str(action[i]),
            rule=None,
            review=False,
            control=False,
            status=DecisionStatus.DECIDED,
            reasons=None,
            reasons_text=None,
            created_at=created[i],
        )
        for i in range(n)
    ]
    store.record([RecordRequest(decisions)], actor="test")
    outcomes = [
        {
            "decision_id": decisions[i].id,
            "churned": int(churned[i]),
            "observed_at": (created[i] + timedelta(days=3)).isoformat(),
        }
        for i in range(n)
        if labelled[i]
    ]
    _, errors = record_outcomes(spec(), store, outcomes, actor="test", now=NOW)
    assert errors == []
    return {
        "region": region, "age": age, "score": score, "action": action, "version": version,
        "labelled": labelled, "churned": churned,
    }  # fmt: skip


def test_groups_equal_fairlearn_through_the_store(store: Store) -> None:
    truth = simulate(store, 3_000, seed=7)
    report = fairness_report(
        spec(), store, since=START, until=START + timedelta(days=10), now=NOW, chunk_rows=700
    )
    assert report.decisions == 3_000 and report.labelled == int(truth["labelled"].sum())
    by_name = {a.attribute: a for a in report.attributes}
    assert list(by_name) == ["age_band", "region"]  # bands, then fields without bands

    region = by_name["region"]
    assert region.too_few == ("east",)  # about 30 of 3,000: under min_group (40)
    kept = truth["region"] != "east"
    selected = truth["action"] != "none"
    groups = truth["region"][kept]
    frame = MetricFrame(
        metrics=selection_rate, y_true=truth["churned"][kept], y_pred=selected[kept],
        sensitive_features=groups,
    ).by_group  # fmt: skip
    for group in region.groups:
        if group.group != "east":
            assert group.selection[SELECTED].value == pytest.approx(
                frame.loc[group.group], abs=1e-9
            )
    assert region.parity_difference[SELECTED].estimate.value == pytest.approx(
        demographic_parity_difference(
            truth["churned"][kept], selected[kept], sensitive_features=groups
        ),
        abs=1e-9,
    )
    known = kept & truth["labelled"]
    assert region.equalized_odds_difference.estimate.value == pytest.approx(
        equalized_odds_difference(
            truth["churned"][known], selected[known], sensitive_features=truth["region"][known]
        ),
        abs=1e-9,
    )
    tpr = MetricFrame(
        metrics=true_positive_rate, y_true=truth["churned"][known], y_pred=selected[known],
        sensitive_features=truth["region"][known],
    ).by_group  # fmt: skip
    south = next(g for g in region.groups if g.group == "south")
    assert south.true_positive_rate.value == pytest.approx(tpr.loc["south"], abs=1e-9)

    bands = by_name["age_band"]
    assert [g.group for g in bands.groups] == ["<30", "30-50", ">=50", MISSING]
    ages = truth["age"]
    missing = np.array([a is None for a in ages])
    assert next(g for g in bands.groups if g.group == MISSING).decisions == int(missing.sum())
    young = np.array([a is not None and a < 30 for a in ages])
    assert bands.groups[0].decisions == int(young.sum())


def test_one_version_and_named_attributes(store: Store) -> None:
    truth = simulate(store, 1_000, seed=8)
    report = fairness_report(
        spec(), store, by=["region"], since=START, until=NOW, now=NOW, version="v2"
    )
    assert report.decisions == int((truth["version"] == "v2").sum())
    assert [a.attribute for a in report.attributes] == ["region"]


def test_unknown_or_unsensitive_attributes_are_refused(store: Store) -> None:
    with pytest.raises(InputError, match=r"Got 'regoin' instead \(did you mean 'region'\?\)"):
        fairness_report(spec(), store, by=["regoin"], now=NOW)
    with pytest.raises(InputError, match="Got 'tenure_months' instead"):
        fairness_report(spec(), store, by=["tenure_months"], now=NOW)
    plain = SPEC.replace(", sensitive: true", "").split("  fairness:")[0]
    with pytest.raises(InputError, match="marks no input as sensitive"):
        fairness_report(spec(plain), store, now=NOW)


def test_no_decisions_is_an_empty_report(store: Store) -> None:
    report = fairness_report(spec(), store, since=START, until=NOW, now=NOW)
    assert report.decisions == 0
    assert all(a.groups == () for a in report.attributes)
    found: dict[str, Any] = report.to_dict()
    assert found["attributes"][0]["demographic_parity_difference"][SELECTED]["value"] is None
