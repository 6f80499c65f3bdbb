"""The fairness tally: the same whatever the chunking, intervals that cover their estimate,
groups below the minimum left out of the disparities, and no outcome rates without outcomes."""

from __future__ import annotations

import math

import numpy as np
import pytest

from doorstep.core.stats.fairness import FairnessTally, ratio_interval
from doorstep.core.stats.fairness_report import SELECTED
from doorstep.core.stats.intervals import newcombe_difference, wilson


def chunks(n: int, seed: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    group = rng.choice(np.array(["north", "south", "east"], dtype=object), n, p=[0.5, 0.4, 0.1])
    score = rng.beta(2, 3, n) + np.where(group == "south", 0.1, 0.0)
    action = np.where(score >= 0.6, "offer", "none").astype(object)
    return {
        "groups": group,
        "actions": action,
        "selected": score >= 0.6,
        "labelled": rng.random(n) < 0.7,
        "positive": rng.random(n) < np.clip(score, 0, 1),
        "scores": score,
    }


def run(data: dict[str, np.ndarray], size: int, **options: object) -> FairnessTally:
    counter = FairnessTally("region", "region", min_group=30, **options)  # type: ignore[arg-type]
    n = len(data["groups"])
    for start in range(0, n, size):
        counter.add(**{k: v[start : start + size] for k, v in data.items()})
    return counter


def flat(value: object, key: str = "") -> dict[str, object]:
    if isinstance(value, dict):
        return {
            k: v for name, item in value.items() for k, v in flat(item, f"{key}.{name}").items()
        }
    if isinstance(value, list):
        return {k: v for i, item in enumerate(value) for k, v in flat(item, f"{key}[{i}]").items()}
    return {key: value}


def test_the_same_in_one_chunk_or_many() -> None:
    data = chunks(2_000, 1)
    one, many = flat(run(data, 2_000).result().as_dict()), flat(run(data, 37).result().as_dict())
    assert one.keys() == many.keys()
    for key, value in one.items():  # sums of scores add in another order: equal to rounding
        assert many[key] == (pytest.approx(value, rel=1e-12) if isinstance(value, float) else value)


def test_rates_and_intervals_are_the_counts() -> None:
    data = chunks(2_000, 2)
    result = run(data, 500).result()
    south = next(g for g in result.groups if g.group == "south")
    mask = data["groups"] == "south"
    selected = int(data["selected"][mask].sum())
    assert south.selection[SELECTED] == wilson(selected, int(mask.sum()))
    known = mask & data["labelled"]
    positives = int((known & data["positive"]).sum())
    tp = int((known & data["positive"] & data["selected"]).sum())
    assert south.true_positive_rate == wilson(tp, positives)
    assert south.observed_rate == wilson(positives, int(known.sum()))
    assert south.mean_score.value == pytest.approx(float(data["scores"][known].mean()))
    parity = result.parity_difference[SELECTED]
    assert parity.high_group == "south"
    high = next(g for g in result.groups if g.group == parity.high_group)
    low = next(g for g in result.groups if g.group == parity.low_group)
    x_high = round(high.selection[SELECTED].value * high.decisions)  # type: ignore[operator]
    x_low = round(low.selection[SELECTED].value * low.decisions)  # type: ignore[operator]
    assert parity.estimate == newcombe_difference(x_high, high.decisions, x_low, low.decisions)
    ratio = result.parity_ratio[SELECTED].estimate
    assert ratio.low is not None and ratio.high is not None and ratio.value is not None
    assert ratio.low < ratio.value < ratio.high


def test_katz_interval_of_a_ratio() -> None:
    found = ratio_interval(20, 100, 40, 100)
    se = math.sqrt(1 / 20 - 1 / 100 + 1 / 40 - 1 / 100)
    assert found.value == pytest.approx(0.5)
    assert found.low == pytest.approx(0.5 * math.exp(-1.959963984540054 * se))
    assert found.high == pytest.approx(0.5 * math.exp(1.959963984540054 * se))
    assert ratio_interval(0, 100, 40, 100).value == 0.0
    assert ratio_interval(0, 100, 0, 100).value is None


def test_a_small_group_is_too_few_and_stays_out() -> None:
    data = chunks(200, 3)  # "east" holds about 20 decisions: under 30
    result = run(data, 64).result()
    assert result.too_few == ("east",)
    parity = result.parity_difference[SELECTED]
    assert "east" not in (parity.high_group, parity.low_group)
    assert result.overall.decisions == 200


def test_one_large_group_has_no_disparity() -> None:
    data = chunks(200, 4)
    data["groups"][:] = "north"
    result = run(data, 200).result()
    assert result.parity_difference[SELECTED].estimate.value is None
    assert result.equalized_odds_difference.estimate.value is None


def test_without_outcomes_only_selection_is_measured() -> None:
    data = chunks(500, 5)
    result = run(data, 500, outcomes=False).result()
    assert all(g.labelled == 0 and g.true_positive_rate.value is None for g in result.groups)
    assert result.equalized_odds_difference.estimate.value is None
    assert result.parity_difference["offer"].estimate.value is not None


def test_bands_keep_their_order() -> None:
    counter = FairnessTally("age_band", "age", min_group=1, order=["<40", "40-60", ">=60"])
    groups = np.array([">=60", "<40", "40-60", "(missing)"], dtype=object)
    flags = np.array([True, False, True, False])
    counter.add(groups, groups, flags, flags, flags, np.array([0.1, 0.2, 0.3, 0.4]))
    assert [g.group for g in counter.result().groups] == ["<40", "40-60", ">=60", "(missing)"]
