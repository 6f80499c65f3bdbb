"""Fairness thresholds raise alerts like drift and quality: one subject per sensitive attribute
and statistic, judged on the monitored window with the numbers of ``doorstep fairness``, and
"insufficient data" (never ok) without two groups large enough. On SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import timedelta

import pytest
from tests.services.monitor.test_fairness import SPEC, START, simulate

from doorstep.core.spec.loader import parse_spec
from doorstep.core.spec.models import Spec
from doorstep.core.stats.fairness_report import SELECTED
from doorstep.errors import SpecError
from doorstep.services.monitor.alerts import run_monitor
from doorstep.services.monitor.fairness import fairness_report
from doorstep.store import Store

ALERTS = """\
  alerts:
    connectors: [ops]
    drift: false
connectors:
  ops: {type: file, path: alerts.jsonl}
"""
THRESHOLDS = """\
    alerts:
      demographic_parity_difference: {warn: 0.01, alert: 0.02}
      demographic_parity_ratio: {warn: 0.2, alert: 0.1}
"""


def spec(text: str = SPEC + THRESHOLDS + ALERTS) -> Spec:
    return parse_spec(text, file="doorstep.yaml", env={}).spec


def test_a_parity_breach_raises_an_alert_with_the_fairness_numbers(store: Store) -> None:
    simulate(store, 3_000, seed=7)  # the south is scored higher: selected more often
    now = START + timedelta(days=3, hours=1)  # judges the day from START + 2 days
    result = run_monitor(spec(), store, now=now)
    start, end = START + timedelta(days=2), START + timedelta(days=3)
    expected = fairness_report(spec(), store, by=["region"], since=start, until=end)
    (region,) = expected.attributes
    found = {o.subject: o for o in result.observations}
    parity = found["fairness.region.demographic_parity_difference"]
    assert parity.value == pytest.approx(region.parity_difference[SELECTED].estimate.value)
    assert parity.status == "alert" and parity.threshold == 0.02 and parity.kind == "fairness"
    assert parity.start == start and parity.end == end and parity.count == expected.decisions
    assert "south highest" in parity.checks[0]
    ratio = found["fairness.region.demographic_parity_ratio"]
    assert ratio.value == pytest.approx(region.parity_ratio[SELECTED].estimate.value)
    assert ratio.status == "ok"  # well above 0.2
    assert "fairness.age_band.demographic_parity_difference" in found
    raised = [t for t in result.transitions if t.event == "alert.raised"]
    assert [t.subject for t in raised if t.subject.startswith("fairness.region")] == [
        "fairness.region.demographic_parity_difference"
    ]
    (by_region,) = [t for t in raised if t.subject.startswith("fairness.region")]
    text = by_region.messages[0].message["text"]
    assert text.startswith("ALERT churn: demographic-parity difference by region")
    assert "(alert; south highest" in text


def test_without_groups_large_enough_it_is_insufficient_data(store: Store) -> None:
    result = run_monitor(spec(), store, now=START + timedelta(days=3, hours=1))
    fairness = [o for o in result.observations if o.kind == "fairness"]
    assert len(fairness) == 4 and all(o.status == "insufficient_data" for o in fairness)
    assert result.transitions == [] or all(
        not t.subject.startswith("fairness") for t in result.transitions
    )


def test_fairness_alerts_need_alerts_and_ordered_levels() -> None:
    with pytest.raises(SpecError, match="fairness alerts go through monitoring.alerts"):
        spec(SPEC + THRESHOLDS)
    with pytest.raises(SpecError, match="lower is worse, so 'warn'"):
        spec(
            SPEC + THRESHOLDS.replace("{warn: 0.2, alert: 0.1}", "{warn: 0.1, alert: 0.2}") + ALERTS
        )
