"""Champion against challenger on a real store: a canary deciding its own share, a shadow
scoring the champion's decisions; AUCs as scikit-learn finds them on the same rows, the
difference paired on a shadow and unpaired on a canary. On SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from doorstep.core.spec.loader import parse_spec
from doorstep.core.spec.models import Spec
from doorstep.errors import InputError, NotFoundError
from doorstep.ids import new_id
from doorstep.services.outcomes.ingest import record_outcomes
from doorstep.services.rollout.compare import compare_versions
from doorstep.services.rollout.compare_report import Comparison, Mode
from doorstep.store import RecordRequest, Store
from doorstep.store.shadow_records import ShadowDecision
from doorstep.types import Decision, DecisionStatus

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
  min_samples: {quality: 50, roi: 50}
"""
START = datetime(2025, 3, 1, tzinfo=UTC)
NOW = START + timedelta(days=20)


def spec() -> Spec:
    return parse_spec(SPEC, file="doorstep.yaml", env={}).spec


def _decision(i: int, version: str, score: float, control: bool, at: datetime) -> Decision:
    acting = score >= 0.5
    return Decision(
        id=new_id(), app="churn", entity_id=f"C-{i}", model_version=version, model_hash="ab" * 32,
        inputs={"tenure_months": i % 60}, score=score,
        action="retention_offer" if acting else "none", rule="rule 1" if acting else None,
        review=False, control=control and acting,
        status=DecisionStatus.HELD_OUT if control and acting else DecisionStatus.DECIDED,
        reasons=None, reasons_text=None, created_at=at,
    )  # fmt: skip


def simulate(store: Store, n: int, *, canary: bool, seed: int) -> dict[str, Any]:
    """``n`` decisions over five days, churn drawn from a true probability; the champion v1
    scores it with more noise than the challenger v2 (a canary deciding every third customer,
    or a shadow of every decision)."""
    rng = np.random.default_rng(seed)
    truth = rng.beta(2, 3, n)
    churned = rng.random(n) < truth
    v1 = np.clip(truth + rng.normal(0, 0.25, n), 0, 1)
    v2 = np.clip(truth + rng.normal(0, 0.08, n), 0, 1)
    control = rng.random(n) < 0.2
    at = [START + timedelta(minutes=int(m)) for m in rng.integers(0, 5 * 24 * 60, n)]
    by_v2 = (np.arange(n) % 3 == 0) if canary else np.zeros(n, dtype=bool)
    made = [
        _decision(i, "v2" if by_v2[i] else "v1", float(v2[i] if by_v2[i] else v1[i]),
                  bool(control[i]), at[i])
        for i in range(n)
    ]  # fmt: skip
    store.record([RecordRequest(made)], actor="test")
    if not canary:
        store.record_shadow(
            [
                ShadowDecision(
                    decision_id=d.id,
                    app="churn",
                    entity_id=d.entity_id,
                    model_version="v2",
                    model_hash="cd" * 32,
                    score=float(v2[i]),
                    action="retention_offer" if v2[i] >= 0.5 else "none",
                    rule=None,
                    review=False,
                    control=d.control,
                    reasons=None,
                    created_at=d.created_at,
                )  # fmt: skip
                for i, d in enumerate(made)
            ]
        )
    outcomes = [
        {"customer_id": f"C-{i}", "churned": int(churned[i]),
         "observed_at": (at[i] + timedelta(days=3)).isoformat()}
        for i in range(n)
    ]  # fmt: skip
    result, errors = record_outcomes(spec(), store, outcomes, actor="test", now=NOW)
    assert errors == [] and result.matched == n
    return {"v1": v1, "v2": v2, "churned": churned, "by_v2": by_v2, "at": at}


def test_a_shadow_is_compared_paired_on_the_same_decisions(store: Store) -> None:
    truth = simulate(store, 900, canary=False, seed=1)
    found = compare_versions(
        spec(), store, champion="v1", since=START, until=START + timedelta(days=5), now=NOW
    )
    assert found.mode == "shadow" and found.challenger is not None
    churned = truth["churned"]
    one, two = roc_auc_score(churned, truth["v1"]), roc_auc_score(churned, truth["v2"])
    assert found.champion.quality is not None and found.challenger.quality is not None
    assert found.champion.quality.metrics["auc"].value == pytest.approx(one)
    assert found.challenger.quality.metrics["auc"].value == pytest.approx(two)
    assert found.difference is not None and found.difference.method == "paired DeLong"
    assert found.difference.difference.value == pytest.approx(two - one)
    assert found.difference.difference.low is not None and found.difference.difference.low > 0
    assert found.verdict.startswith("v2 is better than v1 by ")
    assert "points of AUC [" in found.verdict
    # five day windows, each with the day's decisions
    assert len(found.challenger.windows) == 5
    days = np.array([(t - START).days for t in truth["at"]])
    for index, window in enumerate(found.challenger.windows):
        assert window.quality.labelled == int((days == index).sum())
    # a shadow acted on nothing: its value is the champion's uplift applied to its actions
    assert found.challenger.roi is None and found.champion.roi is not None
    assert found.challenger.expected_value is not None
    assert found.challenger.decisions == 900 and found.challenger.override_rate is None


def test_a_canary_is_compared_unpaired_on_its_own_decisions(store: Store) -> None:
    truth = simulate(store, 1_200, canary=True, seed=2)
    found = compare_versions(
        spec(), store, champion="v1", since=START, until=START + timedelta(days=5), now=NOW
    )
    assert found.mode == "canary" and found.challenger is not None
    mask, churned = truth["by_v2"], truth["churned"]
    one = roc_auc_score(churned[~mask], truth["v1"][~mask])
    two = roc_auc_score(churned[mask], truth["v2"][mask])
    assert found.champion.decisions == int((~mask).sum())
    assert found.challenger.decisions == int(mask.sum())
    assert found.champion.quality is not None and found.challenger.quality is not None
    assert found.champion.quality.metrics["auc"].value == pytest.approx(one)
    assert found.challenger.quality.metrics["auc"].value == pytest.approx(two)
    assert found.difference is not None and found.difference.method == "unpaired DeLong"
    assert found.difference.difference.value == pytest.approx(two - one)
    assert found.challenger.roi is not None and found.champion.roi is not None
    assert found.challenger.roi.treated.outcomes + found.challenger.roi.control.outcomes == int(
        (mask & (truth["v2"] >= 0.5)).sum()
    )


def test_too_few_outcomes_says_how_many_more(store: Store) -> None:
    simulate(store, 60, canary=True, seed=3)
    found = compare_versions(
        spec(), store, champion="v1", since=START, until=START + timedelta(days=5), now=NOW
    )
    assert found.challenger is not None and found.challenger.labelled == 20
    assert found.verdict.startswith("Not enough outcomes yet: 20 decisions with an outcome")
    assert "about 30 more" in found.verdict


def test_no_challenger_and_unknown_challenger(store: Store) -> None:
    found = compare_versions(spec(), store, champion="v1", now=NOW)
    assert found.challenger is None and found.verdict.startswith("No challenger")
    with pytest.raises(NotFoundError, match="'v9'"):
        compare_versions(spec(), store, champion="v1", challenger="v9", now=NOW)
    with pytest.raises(InputError, match="another version"):
        compare_versions(spec(), store, champion="v1", challenger="v1", now=NOW)


def test_a_mode_reads_one_kind_of_challenger_rows(store: Store) -> None:
    simulate(store, 300, canary=False, seed=4)  # version v2 only shadowed
    until = START + timedelta(days=5)

    def compare(mode: Mode, challenger: str | None = None) -> Comparison:
        return compare_versions(
            spec(), store, champion="v1", challenger=challenger, since=START, until=until,
            now=NOW, mode=mode,
        )  # fmt: skip

    found = compare("shadow")
    assert found.mode == "shadow" and found.challenger is not None
    assert found.challenger.decisions == 300
    found = compare("canary")  # a shadow's rows are no canary's decisions
    assert found.challenger is None and found.champion.decisions == 300
    with pytest.raises(NotFoundError, match="'v2' decided or shadowed nothing"):
        compare("canary", "v2")
