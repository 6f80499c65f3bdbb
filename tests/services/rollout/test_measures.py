"""What both sides of a backtest or comparison measure, for every task: quality, the difference
of the headline metric (paired and unpaired), expected value, and the verdict's sentences."""

from __future__ import annotations

import math
from collections import Counter

import numpy as np
import pytest
from sklearn.metrics import mean_absolute_error
from tests.services.rollout.test_compare import SPEC

from doorstep.core.spec.loader import parse_spec
from doorstep.core.spec.models import Spec
from doorstep.core.stats.intervals import Interval, z_value
from doorstep.core.stats.roi import ActionEconomics
from doorstep.services.rollout.measures import (
    Difference,
    LabelledScores,
    compare_quality,
    expected_value,
    quality_of,
)
from doorstep.services.rollout.verdict import outcomes_needed, verdict


def spec(task: str) -> Spec:
    text = SPEC.replace("task: binary, positive_class: 1", f"task: {task}")
    if task == "regression":
        text = text.replace("score >= 0.5", "score >= 100").replace(
            "field: churned", "field: spend, goal: increase"
        )
    if task == "multiclass":
        text = text.replace('"score >= 0.5"', "\"predicted_class = 'gold'\"").replace(
            "field: churned", "field: tier"
        )
    return parse_spec(text, file="doorstep.yaml", env={}).spec


def side(
    scores: np.ndarray, outcomes: np.ndarray, classes: list[str], labels: list[str]
) -> LabelledScores:
    found = LabelledScores.empty()
    n = len(scores)
    found.add(scores, np.zeros(n, dtype=bool), np.array(classes, dtype=str), outcomes,
              np.array(labels, dtype=str))  # fmt: skip
    return found


def test_regression_quality_and_the_paired_and_unpaired_mae_difference() -> None:
    rng = np.random.default_rng(5)
    truth = rng.normal(100, 20, 300)
    one, two = truth + rng.normal(0, 15, 300), truth + rng.normal(0, 5, 300)
    blank = [""] * 300
    a, b = side(one, truth, blank, blank), side(two, truth, blank, blank)
    quality = quality_of(spec("regression"), a)
    assert quality.metrics["mae"].value == pytest.approx(mean_absolute_error(truth, one))
    paired = compare_quality(spec("regression"), a, b, paired=True)
    d = np.abs(two - truth) - np.abs(one - truth)
    assert paired.metric == "mae" and not paired.higher_is_better
    assert paired.difference.value == pytest.approx(d.mean())
    half = z_value() * d.std(ddof=1) / math.sqrt(d.size)
    assert paired.difference.high == pytest.approx(d.mean() + half)
    unpaired = compare_quality(spec("regression"), a, b, paired=False)
    assert unpaired.method == "Welch difference"
    assert unpaired.difference.value == pytest.approx(d.mean())
    assert unpaired.difference.high is not None and paired.difference.high is not None
    text = verdict(paired, 300, 50, champion="v1", challenger="v2")
    assert text.startswith("v2 is better than v1 by ") and "of MAE [" in text


def test_multiclass_accuracy_difference() -> None:
    labels = ["gold", "silver", "silver", "gold", "bronze", "gold"] * 20
    one = ["gold", "gold", "silver", "bronze", "bronze", "gold"] * 20
    two = ["gold", "silver", "silver", "gold", "bronze", "silver"] * 20
    zeros = np.zeros(len(labels))
    a, b = side(zeros, zeros, one, labels), side(zeros, zeros, two, labels)
    assert quality_of(spec("multiclass"), a).metrics["accuracy"].value == pytest.approx(4 / 6)
    found = compare_quality(spec("multiclass"), a, b, paired=True)
    assert found.metric == "accuracy" and found.higher_is_better
    assert found.difference.value == pytest.approx(5 / 6 - 4 / 6)


def test_expected_value_applies_the_uplift_to_the_treated_actions() -> None:
    economics = {"offer": ActionEconomics(value=240, cost=30), "call": ActionEconomics(None, 5)}
    uplift = Interval(0.1, 0.05, 0.15)
    found = expected_value(Counter({"offer": 10}), uplift, economics)
    assert found.value.value == pytest.approx(0.1 * 2400 - 300)
    assert found.value.low == pytest.approx(0.05 * 2400 - 300)
    assert found.cost == 300
    unvalued = expected_value(Counter({"offer": 10, "call": 2}), uplift, economics)
    assert unvalued.value.value is None and unvalued.note is not None and "call" in unvalued.note
    nothing = expected_value(Counter({"offer": 1}), Interval.empty(), economics)
    assert nothing.value.value is None and nothing.note == "no uplift measured yet"


def test_how_many_more_outcomes_the_verdict_asks_for() -> None:
    unclear = Difference("auc", Interval(0.01, -0.01, 0.03), "paired DeLong", True)
    # the half-width (0.02) must shrink to the difference (0.01): four times the outcomes
    assert outcomes_needed(unclear, 1000, 100) == 3000
    assert outcomes_needed(unclear, 40, 100) == 60
    clear = Difference("auc", Interval(0.03, 0.01, 0.05), "paired DeLong", True)
    assert outcomes_needed(clear, 1000, 100) is None
    text = verdict(unclear, 1000, 100, champion="v1", challenger="v2")
    assert text.startswith("No clear difference yet: v2 minus v1 is +1.0 points of AUC [-1.0, 3.0]")
    assert "about 3000 more outcomes" in text
    worse = Difference("auc", Interval(-0.031, -0.05, -0.012), "unpaired DeLong", True)
    assert verdict(worse, 500, 100, champion="v1", challenger="v2").startswith(
        "v2 is worse than v1 by 3.1 points of AUC [-5.0, -1.2]"
    )
    assert verdict(None, 0, 100, champion="v1", challenger="v2").startswith(
        "Not enough outcomes yet"
    )
