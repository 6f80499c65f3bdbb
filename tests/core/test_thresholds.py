"""Score thresholds read from a policy's rules."""

from __future__ import annotations

from doorstep.core.spec.models import PolicySpec
from doorstep.core.thresholds import Threshold, nearest_threshold, score_thresholds


def policy(*rules: dict[str, str]) -> PolicySpec:
    return PolicySpec.model_validate({"rules": list(rules)})


def test_thresholds_come_from_every_form_of_comparison_with_score_lowest_first() -> None:
    found = score_thresholds(
        policy(
            {"name": "premium", "when": "score >= 0.70 AND plan = 'premium'", "action": "call"},
            {"name": "high risk", "when": "score > 0.6", "action": "offer"},
            {"when": "0.4 <= score AND tenure >= 6", "action": "offer"},
            {"when": "score BETWEEN 0.1 AND 0.2", "action": "mail"},
        )
    )
    assert [(t.value, t.rule) for t in found] == [
        (0.1, "rule 4"),
        (0.2, "rule 4"),
        (0.4, "rule 3"),
        (0.6, "high risk"),
        (0.7, "premium"),
    ]


def test_conditions_without_score_or_unparsable_give_none() -> None:
    found = score_thresholds(
        policy({"when": "tenure >= 6", "action": "a"}, {"when": "score >= (", "action": "b"})
    )
    assert found == []


def test_the_nearest_threshold_and_the_lower_one_on_a_tie() -> None:
    low, high = Threshold(0.4, "borderline", "offer"), Threshold(0.6, "high risk", "offer")
    assert nearest_threshold(0.597, [low, high]) == high
    assert nearest_threshold(0.45, [low, high]) == low
    assert nearest_threshold(0.5, [high, low]) == low
    assert nearest_threshold(0.5, []) is None
