"""The one rule a quality metric of a window is judged by: too few outcomes (or no value) is
``insufficient_data`` whatever the value, never ``ok``; otherwise the spec's levels, inclusive,
in the metric's worse direction; no threshold: not judged."""

from __future__ import annotations

import math

import pytest

from doorstep.core.stats.quality_status import QualityThreshold, quality_status

AUC = QualityThreshold(warn=0.72, alert=0.65, direction="lower_is_worse")
BRIER = QualityThreshold(warn=None, alert=0.25, direction="higher_is_worse")


@pytest.mark.parametrize(
    ("value", "expected"),
    [(0.9, "ok"), (0.7201, "ok"), (0.72, "warn"), (0.66, "warn"), (0.65, "alert"), (0.1, "alert")],
)
def test_lower_is_worse_levels_are_inclusive(value: float, expected: str) -> None:
    assert quality_status(value, 500, 100, AUC) == expected


@pytest.mark.parametrize(("value", "expected"), [(0.2, "ok"), (0.25, "alert"), (0.4, "alert")])
def test_higher_is_worse_with_only_an_alert_level(value: float, expected: str) -> None:
    assert quality_status(value, 500, 100, BRIER) == expected


@pytest.mark.parametrize("value", [0.99, 0.5, None, math.nan])
def test_too_few_outcomes_or_no_value_is_insufficient_data_never_ok(value: float | None) -> None:
    assert quality_status(value, 99, 100, AUC) == "insufficient_data"
    assert quality_status(value, 99, 100, None) == "insufficient_data"
    assert quality_status(None, 5_000, 100, AUC) == "insufficient_data"


def test_a_metric_without_a_threshold_is_not_judged() -> None:
    assert quality_status(0.5, 5_000, 100, None) is None
    assert AUC.as_dict() == {"warn": 0.72, "alert": 0.65, "direction": "lower_is_worse"}
