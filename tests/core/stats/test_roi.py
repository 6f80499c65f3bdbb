"""ROI against the control group: uplift, value, and when the groups are too small."""

from __future__ import annotations

import math
from typing import Literal

import numpy as np
import pytest
from scipy.stats import norm

from doorstep.core.stats.intervals import Interval
from doorstep.core.stats.roi import (
    ActionEconomics,
    RoiAccumulator,
    minimum_detectable_uplift,
    required_control_size,
)

ECONOMICS = {"offer": ActionEconomics(value=240.0, cost=30.0), "call": ActionEconomics(600, 45)}


def simulate(
    n: int, *, control_share: float, base: float, uplift: float, seed: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Decisions that would act, a random control share, and churn outcomes: base rate for
    control, base - uplift for treated."""
    rng = np.random.default_rng(seed)
    action = rng.choice(["offer", "call"], n, p=[0.8, 0.2])
    control = rng.random(n) < control_share
    rate = np.where(control, base, base - uplift)
    outcome = (rng.random(n) < rate).astype(np.float64)
    taken = np.where(control, "none", action)
    return action, control, taken, outcome


def roi(
    *arrays: np.ndarray,
    min_outcomes: int = 100,
    goal: Literal["decrease", "increase"] = "decrease",
) -> RoiAccumulator:
    accumulator = RoiAccumulator("label", goal, ECONOMICS, min_outcomes=min_outcomes)
    action, control, taken, outcome = arrays
    for part in np.array_split(np.arange(action.size), 5):
        accumulator.add(action[part], control[part], taken[part], outcome[part])
    return accumulator


def measured(interval: Interval) -> tuple[float, float, float]:
    """The value, low and high end of an interval that was measured (no ``None``)."""
    value, low, high = interval.value, interval.low, interval.high
    assert value is not None and low is not None and high is not None, interval
    return value, low, high


def test_a_large_experiment_finds_the_true_uplift_and_its_value() -> None:
    arrays = simulate(40_000, control_share=0.2, base=0.30, uplift=0.06, seed=1)
    action, control, taken, outcome = arrays
    report = roi(*arrays).result()
    assert report.conclusion == "uplift", report.message
    _, low, high = measured(report.uplift)
    assert low < 0.06 < high
    observed = outcome[control].mean() - outcome[~control].mean()
    assert report.uplift.value == pytest.approx(observed)
    treated_offers = int(((action == "offer") & ~control).sum())
    treated_calls = int(((action == "call") & ~control).sum())
    expected = observed * (240 * treated_offers + 600 * treated_calls) - (
        30 * treated_offers + 45 * treated_calls
    )
    assert report.value.value == pytest.approx(expected)
    _, low, high = measured(report.value)
    assert low < expected < high
    assert report.actions_taken == treated_offers + treated_calls
    assert report.needed_control_outcomes == 0
    assert report.actions["offer"].value_per_outcome == 240.0
    assert report.as_dict()["actions"]["offer"]["value_per_outcome"] == 240.0
    assert "Acting helps" in report.message


def test_the_interval_covers_the_true_uplift_about_95_percent_of_the_time() -> None:
    covered = 0
    runs = 300
    for seed in range(runs):
        report = roi(*simulate(1_500, control_share=0.3, base=0.3, uplift=0.05, seed=seed)).result()
        _, low, high = measured(report.uplift)
        covered += low <= 0.05 <= high
    assert 0.92 <= covered / runs <= 0.98


def test_a_small_control_group_says_how_many_more_outcomes_it_needs() -> None:
    arrays = simulate(2_000, control_share=0.05, base=0.30, uplift=0.05, seed=4)
    report = roi(*arrays).result()
    assert report.conclusion == "too_small"
    control = report.control
    ratio = report.treated.outcomes / control.outcomes
    c_rate, t_rate = control.rate.value, report.treated.rate.value
    assert c_rate is not None and t_rate is not None
    expected = math.ceil(required_control_size(c_rate, t_rate, ratio)) - control.outcomes
    assert report.needed_control_outcomes == max(expected, 100 - control.outcomes)
    assert "still too small" in report.message
    assert f"About {report.needed_control_outcomes} more control outcomes" in report.message
    assert "alpha 0.05, power 0.8" in report.message


def test_no_control_outcomes_at_all() -> None:
    accumulator = RoiAccumulator("label", "decrease", ECONOMICS)
    accumulator.add(np.array(["offer"] * 3), np.zeros(3, bool), np.array(["offer"] * 3), np.ones(3))
    report = accumulator.result()
    assert report.conclusion == "too_small" and report.needed_control_outcomes == 100
    assert report.uplift.value is None and report.value.value is None
    assert "No control decision has an outcome yet" in report.message


def test_no_uplift_is_reported_with_the_smallest_detectable_one() -> None:
    arrays = simulate(20_000, control_share=0.5, base=0.3, uplift=0.0, seed=10)
    report = roi(*arrays).result()
    assert measured(report.uplift)[0] < 0 and report.conclusion == "no_uplift"
    assert "large enough to detect an uplift of 1.8 points or more" in report.message


def test_a_tiny_observed_uplift_needs_a_huge_control_group() -> None:
    arrays = simulate(20_000, control_share=0.5, base=0.3, uplift=0.0, seed=9)  # +0.3 points
    report = roi(*arrays).result()
    assert report.conclusion == "too_small"
    assert report.needed_control_outcomes is not None
    assert report.needed_control_outcomes > 100_000
    assert "would detect an uplift of 1.8 points or more" in report.message


def test_harm_is_concluded_when_acting_makes_it_worse() -> None:
    arrays = simulate(20_000, control_share=0.5, base=0.3, uplift=-0.05, seed=2)
    report = roi(*arrays).result()
    assert report.conclusion == "harm" and measured(report.uplift)[2] < 0
    assert measured(report.value)[0] < 0


def test_goal_increase_counts_uplift_the_other_way() -> None:
    arrays = simulate(20_000, control_share=0.5, base=0.3, uplift=-0.05, seed=2)  # treated +5
    report = roi(*arrays, goal="increase").result()
    assert report.conclusion == "uplift" and measured(report.uplift)[1] > 0


def test_none_decisions_and_unknown_economics() -> None:
    accumulator = RoiAccumulator("label", "decrease", {"offer": ActionEconomics(value=None)})
    action = np.array(["none", "offer", "offer", "offer"])
    accumulator.add(action, np.array([False, True, False, False]), action, np.ones(4))
    report = accumulator.result()
    assert report.treated.outcomes == 2 and report.control.outcomes == 1  # 'none' never counts
    assert report.value.value is None


def test_value_outcomes_compare_means() -> None:
    rng = np.random.default_rng(3)
    n = 20_000
    control = rng.random(n) < 0.3
    spend = rng.normal(100, 30, n) + np.where(control, 0.0, 8.0)
    action = np.array(["offer"] * n)
    accumulator = RoiAccumulator(
        "value", "increase", {"offer": ActionEconomics(value=1.0, cost=2.0)}
    )
    accumulator.add(action, control, np.where(control, "none", action), spend)
    report = accumulator.result()
    _, low, high = measured(report.uplift)
    assert low < 8.0 < high
    assert report.uplift.value == pytest.approx(spend[~control].mean() - spend[control].mean())
    assert report.conclusion == "uplift"
    assert report.as_dict()["treated"]["mean_outcome"]["value"] == pytest.approx(
        spend[~control].mean()
    )


def r_power_prop_test_n(p1: float, p2: float, power: float) -> float:
    """What R's power.prop.test solves for: n per group at two-sided alpha 0.05."""
    z_a, z_b = float(norm.ppf(0.975)), float(norm.ppf(power))
    pooled = (p1 + p2) / 2
    root = z_a * math.sqrt(2 * pooled * (1 - pooled)) + z_b * math.sqrt(
        p1 * (1 - p1) + p2 * (1 - p2)
    )
    return root**2 / (p1 - p2) ** 2


def test_power_calculation_matches_the_textbook_formula() -> None:
    # R's documentation: power.prop.test(p1 = .50, p2 = .75, power = .90)  =>  n = 76.7
    assert required_control_size(0.5, 0.75, 1.0, power=0.9) == pytest.approx(76.7, abs=0.05)
    assert required_control_size(0.3, 0.25, 1.0) == pytest.approx(
        r_power_prop_test_n(0.3, 0.25, 0.8)
    )
    # four treated per control: fewer controls than with equal groups, more in total
    equal = required_control_size(0.3, 0.25, 1.0)
    unequal = required_control_size(0.3, 0.25, 4.0)
    assert unequal < equal < 5 * unequal
    assert required_control_size(0.3, 0.3, 1.0) == math.inf
    assert minimum_detectable_uplift(0.3, 0, 10) is None
