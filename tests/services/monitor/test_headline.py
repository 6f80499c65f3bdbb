"""The dashboard's business headline: money with the spec's currency over its period against
the control group, or how long until a conclusion (with a larger control share too), and
quality in words."""

from __future__ import annotations

import math
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from statistics import NormalDist

import pytest
from tests.services.monitor.test_drift import DAYS
from tests.web.pages.test_report_browser import START, decide_and_observe

from doorstep.core.stats.intervals import Interval
from doorstep.core.stats.roi_report import RoiGroup, RoiReport
from doorstep.services.apps.loading import LoadedApp
from doorstep.services.apps.registry import Registry
from doorstep.services.monitor.headline import (
    business_headline,
    duration_text,
    headline_report,
    money_text,
)
from doorstep.store import open_store
from doorstep.types import MonitoringReport


@pytest.fixture(scope="module")
def observed(
    churn_registry: Registry, tmp_path_factory: pytest.TempPathFactory
) -> tuple[LoadedApp, MonitoringReport]:
    folder: Path = tmp_path_factory.mktemp("headline")
    store = open_store(f"sqlite:///{folder / 'doorstep.db'}")
    app = churn_registry.get("churn")
    try:
        decide_and_observe(app, store)
        report = headline_report(app.spec, store, now=START + timedelta(days=DAYS))
    finally:
        store.close()
    return app, report


def test_money_and_durations_read_as_people_write_them() -> None:
    assert money_text(12_345.6, "EUR") == "€12,300"
    assert money_text(-4_149, "EUR") == "−€4,150"
    assert money_text(987.4, "CHF") == "987 CHF"
    assert money_text(12_345.6, None) == "12,300"
    assert duration_text(35) == "about 5 weeks"
    assert duration_text(17.5) == "about 2.5 weeks"
    assert duration_text(4.2) == "about 4 days"
    assert duration_text(200) == "about 7 months"


def test_a_conclusion_is_the_value_added_with_its_interval_in_the_spec_currency(
    observed: tuple[LoadedApp, MonitoringReport],
) -> None:
    app, report = observed
    roi = report.roi
    assert isinstance(roi, RoiReport) and roi.value.value is not None
    added = roi.value.value
    roi = replace(roi, conclusion="uplift")
    headline = business_headline(app.spec, replace(report, roi=roi))
    assert app.spec.monitoring.currency == "EUR" and app.spec.monitoring.period == "month"
    assert headline.state == "value"
    assert headline.number == money_text(added, "EUR")
    assert headline.number.startswith("€") or headline.number.startswith("−€")
    assert roi.value.low is not None and roi.value.high is not None
    interval = f"{money_text(roi.value.low, 'EUR')} – {money_text(roi.value.high, 'EUR')}"
    assert headline.sentence == (
        f"The model's actions {'added' if added >= 0 else 'cost'} "
        f"{headline.number.lstrip('−')} over the last 30 days [{interval}] against the "
        "control group."
    )
    auc = report.quality.total.metric("auc")
    assert auc is not None and auc.value is not None
    assert any(
        f"AUC {auc.value:.2f}" in d and f"{auc.value:.0%} of the time" in d
        for d in headline.details
    )


def power_needed(control: float, treated: float, ratio: float) -> float:
    """Two-proportion z-test sample size of the control group (Fleiss, without continuity
    correction), written out independently of the code under test."""
    z_a, z_b = NormalDist().inv_cdf(0.975), NormalDist().inv_cdf(0.8)
    pooled = (control + ratio * treated) / (1 + ratio)
    top = z_a * math.sqrt(pooled * (1 - pooled) * (1 + 1 / ratio)) + z_b * math.sqrt(
        control * (1 - control) + treated * (1 - treated) / ratio
    )
    return (top / (control - treated)) ** 2


def test_not_enough_outcomes_says_how_long_and_with_a_larger_control_share(
    observed: tuple[LoadedApp, MonitoringReport],
) -> None:
    app, report = observed
    assert app.spec.policy.control_group == 0.10
    control, treated = (
        RoiGroup(60, Interval(0.30, 0.2, 0.4)),
        RoiGroup(540, Interval(0.24, 0.2, 0.28)),
    )
    needed = math.ceil(power_needed(0.30, 0.24, 540 / 60)) - 60
    roi = RoiReport(
        kind="label",
        goal="decrease",
        treated=treated,
        control=control,
        uplift=Interval(0.06, -0.06, 0.18),
        value=Interval.empty(),
        actions_taken=500,
        cost=0.0,
        conclusion="too_small",
        message="too small",
        needed_control_outcomes=needed,
        actions={},
    )
    headline = business_headline(app.spec, replace(report, roi=roi))
    per_day = 60 / DAYS  # the outcomes came in over the fixture's days, not the whole period
    wait = needed / per_day
    at_20 = (math.ceil(power_needed(0.30, 0.24, 0.8 / 0.2)) - 60) / (per_day * 2)
    assert headline.state == "insufficient"
    assert headline.sentence == (
        f"Not enough outcomes yet: at the current volume, {duration_text(wait)} until a "
        f"conclusion (or raise the control share to 20%: {duration_text(at_20)})."
    )
    assert headline.number == duration_text(wait)
    assert headline.details[0].startswith(f"{needed:,} more control outcomes are needed")
    assert f"came in over {DAYS} days" in headline.details[0]


def test_without_a_control_group_it_says_what_to_set(
    observed: tuple[LoadedApp, MonitoringReport],
) -> None:
    app, report = observed
    spec = app.spec.model_copy(
        update={"policy": app.spec.policy.model_copy(update={"control_group": 0.0})}
    )
    headline = business_headline(spec, report)
    assert headline.state == "unavailable" and "policy.control_group" in headline.sentence
