"""The spec's drift thresholds: defaults, one statistic at a time, and errors located at the key
that is wrong."""

from __future__ import annotations

import pytest

from doorstep.core.spec.loader import parse_spec
from doorstep.core.stats.drift import DEFAULT_THRESHOLDS, Threshold
from doorstep.errors import SpecError
from doorstep.services.monitor.drift import drift_thresholds

BASE = """\
app: {name: churn, owner: maria@example.com}
model: {path: model.lgb.txt, task: binary}
inputs:
  id: customer_id
  fields:
    tenure_months: {type: int, min: 0}
"""


def parse(monitoring: str) -> object:
    return parse_spec(BASE + "monitoring:\n" + monitoring, file="doorstep.yaml", env={}).spec


def messages(monitoring: str) -> list[str]:
    with pytest.raises(SpecError) as caught:
        parse(monitoring)
    return [str(issue) for issue in caught.value.issues]


def test_defaults_are_the_engine_defaults() -> None:
    spec = parse_spec(BASE, file="doorstep.yaml", env={}).spec
    assert drift_thresholds(spec) == DEFAULT_THRESHOLDS


def test_thresholds_override_the_defaults_one_statistic_at_a_time() -> None:
    spec = parse("  drift: {psi: {warn: 0.05, alert: 0.15}, min_rows: 300}\n")
    thresholds = drift_thresholds(spec)  # type: ignore[arg-type]
    assert thresholds.psi == Threshold(0.05, 0.15) and thresholds.min_rows == 300
    assert thresholds.js_distance == DEFAULT_THRESHOLDS.js_distance


def test_warn_above_alert_is_refused_at_its_key() -> None:
    (message,) = messages("  drift: {psi: {warn: 0.3, alert: 0.2}}\n")
    assert "monitoring.drift.psi" in message and "'warn' (0.3) is greater than 'alert'" in message
