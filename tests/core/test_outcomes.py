"""The spec's ``monitoring`` section: defaults, label semantics, located errors."""

from __future__ import annotations

from datetime import timedelta

import pytest
from tests.core.test_spec import ENV, VALID, errors_of

from doorstep.core.outcomes import canonical_label, outcome_semantics, parse_duration
from doorstep.core.spec.loader import parse_spec


def with_monitoring(section: str, text: str = VALID) -> str:
    return text + "monitoring:\n" + "".join(f"  {line}\n" for line in section.splitlines())


def test_a_spec_without_monitoring_gets_the_defaults() -> None:
    spec = parse_spec(VALID, file="app.yaml", env=ENV).spec
    assert spec.monitoring.window == "day"
    semantics = outcome_semantics(spec)
    assert semantics.kind == "label"
    assert (semantics.positive, semantics.negative) == ("1", "0")
    assert semantics.horizon == timedelta(days=30)
    assert semantics.field == "label" and semantics.goal == "decrease"


def test_a_full_monitoring_section_is_read() -> None:
    text = with_monitoring(
        "window: week\n"
        "outcome: {horizon: 60d, field: churned, positive: true, goal: decrease}\n"
        "min_samples: {quality: 50, roi: 200}\n"
        "threshold: 0.6\n"
        "quality_on: untreated\n"
        "calibration_bins: 5"
    )
    spec = parse_spec(text, file="app.yaml", env=ENV).spec
    semantics = outcome_semantics(spec)
    assert semantics.field == "churned" and semantics.positive == "1"
    assert semantics.horizon == timedelta(days=60)
    assert spec.monitoring.min_samples.roi == 200
    assert spec.monitoring.quality_on == "untreated"


@pytest.mark.parametrize(
    ("section", "expected"),
    [
        (
            "window: daily",
            "app.yaml:41 monitoring.window: The window must be hour, day, week, month or a "
            "number of rows such as 5000rows, got 'daily'",
        ),
        ("outcome: {horizon: 30 days}", "app.yaml:41 monitoring.outcome.horizon: expected a dur"),
        ("outcome: {positive: churned}", "app.yaml:41 monitoring.outcome.negative: name the label"),
        ("outcome: {type: value}", "app.yaml:41 monitoring.outcome.type: a binary model's outc"),
        ("outcome: {field: customer_id}", "app.yaml:41 monitoring.outcome.field: 'customer_id'"),
        ("outcome: {positive: 1, negative: true}", "monitoring.outcome.negative: 'positive' and"),
        ("min_samples: {roi: 0}", "app.yaml:41 monitoring.min_samples.roi: Input should be gre"),
        ("outcom: {}", "app.yaml:41 monitoring.outcom: unknown key 'outcom' (did you mean 'outc"),
    ],
)
def test_monitoring_errors_are_located(section: str, expected: str) -> None:
    [error] = errors_of(with_monitoring(section))
    assert expected in error, error


def test_a_named_negative_makes_text_labels_work() -> None:
    text = with_monitoring("outcome: {positive: churned, negative: stayed}")
    semantics = outcome_semantics(parse_spec(text, file="app.yaml", env=ENV).spec)
    assert (semantics.positive, semantics.negative) == ("churned", "stayed")
    assert semantics.binary and semantics.is_positive("churned")


def test_threshold_is_for_binary_models_only() -> None:
    text = with_monitoring("threshold: 0.5").replace("task: binary", "task: regression")
    text = text.replace("  positive_class: 1\n", "")
    expected = "monitoring.threshold: applies to binary models, not regression"
    assert any(expected in error for error in errors_of(text))


@pytest.mark.parametrize(
    ("value", "label"),
    [
        (True, "1"),
        (False, "0"),
        (1, "1"),
        (1.0, "1"),
        (0.5, "0.5"),
        ("1", "1"),
        ("1.0", "1"),
        (" true ", "1"),
        ("FALSE", "0"),
        ("churned", "churned"),
        ("", None),
        (None, None),
        (float("nan"), None),
    ],
)
def test_labels_have_one_canonical_form(value: object, label: str | None) -> None:
    assert canonical_label(value) == label


@pytest.mark.parametrize(
    ("text", "seconds"), [("30d", 30 * 86_400), ("12h", 43_200), ("2w", 1_209_600), ("90m", 5400)]
)
def test_durations(text: str, seconds: int) -> None:
    assert parse_duration(text).total_seconds() == seconds


@pytest.mark.parametrize("text", ["30", "d", "0d", "-1d", "30 days"])
def test_bad_durations_say_what_is_expected(text: str) -> None:
    with pytest.raises(ValueError, match="duration"):
        parse_duration(text)
