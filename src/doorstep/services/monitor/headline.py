"""The dashboard's business headline: one plain sentence and one number about what acting on
the model's decisions was worth over the spec's ``monitoring.period``, against the control
group, or how long until that can be said.

- A conclusion (enough outcomes in both groups, see :mod:`doorstep.core.stats.roi`): the value
  added, ``Σ value × treated outcomes × uplift − cost``, with its 95% interval, in the spec's
  ``monitoring.currency``.
- Not enough outcomes: the control outcomes still needed (ROI's power calculation: two-sided
  alpha 0.05, power 0.8, at the uplift observed so far, or the ``min_samples.roi`` floor) over
  the control outcomes the period brought per day::

      days = needed / (control outcomes in the period / days they came in)

  where the days they came in run from the first day of the period with a labelled decision
  to today (so a new app is not judged by the empty days before it started);
  and, for labels while the control share is under 50%, the same with a larger share ``s'``
  (twice the current one, at least 20%): control outcomes arrive ``s' / s`` times as fast and
  the treated:control ratio becomes ``(1 - s') / s'``, so ``needed`` is computed again for it.
- Quality in words: what the live AUC means for this app's outcome.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Literal

from doorstep.core.spec.models import Spec
from doorstep.core.stats.roi import required_control_size
from doorstep.core.stats.roi_report import RoiReport
from doorstep.services.monitor.report import monitoring_report
from doorstep.store.protocols import OutcomeStore
from doorstep.types import MonitoringReport

__all__ = [
    "PERIOD_DAYS",
    "Headline",
    "business_headline",
    "duration_text",
    "headline_report",
    "money_text",
]

PERIOD_DAYS = {"week": 7, "month": 30, "quarter": 91}
PERIOD_WORDS = {
    "week": "the last 7 days",
    "month": "the last 30 days",
    "quarter": "the last 91 days",
}
SYMBOLS = {"EUR": "€", "USD": "$", "GBP": "£", "JPY": "¥"}


@dataclass(frozen=True)
class Headline:
    state: Literal["value", "uplift", "insufficient", "unavailable"]
    """``value``: money added (or lost); ``uplift``: a change of outcomes without a value on
    the actions; ``insufficient``: not enough outcomes yet; ``unavailable``: no ROI here."""
    sentence: str
    number: str
    """The one number, as shown big: ``€12,300`` or ``about 5 weeks``."""
    interval: str = ""
    """``€4,100 – €20,500`` (the 95% interval), or empty."""
    details: list[str] = field(default_factory=list)
    """Sentences below it: what the number rests on, quality in words."""


def headline_report(spec: Spec, store: OutcomeStore, *, now: datetime) -> MonitoringReport:
    """The monitoring report of the headline's period (no drift: quick enough for a page)."""
    return monitoring_report(
        spec,
        store,
        window="day",
        since=now - timedelta(days=PERIOD_DAYS[spec.monitoring.period]),
        until=now,
        now=now,
    )


def significant_round(value: float, digits: int = 3) -> float:
    if value == 0 or not math.isfinite(value):
        return value
    return round(value, digits - 1 - math.floor(math.log10(abs(value))))


def money_text(amount: float, currency: str | None) -> str:
    """``€12,300``, ``-€4,100``, ``12,300 CHF``, ``12,300`` (3 significant digits)."""
    rounded = significant_round(amount)
    number = f"{abs(rounded):,.0f}" if abs(rounded) >= 100 else f"{abs(rounded):,.3g}"
    sign = "−" if rounded < 0 else ""
    if currency is None:
        return f"{sign}{number}"
    symbol = SYMBOLS.get(currency)
    return f"{sign}{symbol}{number}" if symbol else f"{sign}{number} {currency}"


def duration_text(days: float) -> str:
    """``about 4 days``, ``about 2.5 weeks``, ``about 3 months``, ``over 2 years``."""
    if days < 1.5:
        return "about a day"
    if days < 14:
        return f"about {round(days):.0f} days"
    if days < 70:
        weeks = round(days / 7 * 2) / 2
        return f"about {weeks:g} weeks"
    if days < 730:
        return f"about {round(days / 30.4):.0f} months"
    return "over 2 years"


def business_headline(spec: Spec, report: MonitoringReport) -> Headline:
    period = PERIOD_WORDS[spec.monitoring.period]
    days = PERIOD_DAYS[spec.monitoring.period]
    quality = _quality_words(report)
    roi = report.roi
    share = spec.policy.control_group
    if share <= 0:
        return Headline(
            "unavailable",
            "No control group: what the model's actions are worth cannot be measured. Set "
            "policy.control_group (e.g. 0.10) to keep a share of decisions un-acted-on.",
            "—",
            details=quality,
        )
    if not isinstance(roi, RoiReport):
        return Headline("unavailable", roi.message, "—", details=quality)
    if roi.conclusion == "too_small":
        return _insufficient(spec, roi, _days_observed(report, days), period, share, quality)
    currency = spec.monitoring.currency
    if roi.value.value is not None:
        added = roi.value.value
        verb = "added" if added >= 0 else "cost"
        number = money_text(added, currency)
        amount = money_text(abs(added), currency)
        interval = ""
        if roi.value.low is not None and roi.value.high is not None:
            interval = (
                f"{money_text(roi.value.low, currency)} – {money_text(roi.value.high, currency)}"
            )
        sentence = (
            f"The model's actions {verb} {amount} over {period} [{interval}] against the "
            "control group."
            if interval
            else f"The model's actions {verb} {amount} over {period} against the control group."
        )
        if roi.conclusion in ("inconclusive", "no_uplift"):
            sentence += " The interval includes nothing at all: not yet a clear effect."
        return Headline("value", sentence, number, interval, [_basis(roi), *quality])
    scale, unit = (100.0, "points") if roi.kind == "label" else (1.0, "per decision")
    uplift = roi.uplift.value or 0.0
    number = f"{uplift * scale:+.1f} {unit}"
    sentence = (
        f"Acting changed the outcome by {number} over {period} against the control group "
        "(set a value on the actions to see it in money)."
    )
    return Headline("uplift", sentence, number, "", [_basis(roi), *quality])


def _days_observed(report: MonitoringReport, days: int) -> int:
    """Days from the first one of the period with a labelled decision to the last (≥ 1)."""
    windows = report.quality.windows
    first = next((i for i, w in enumerate(windows) if w.quality.labelled), None)
    return days if first is None else max(1, min(days, len(windows) - first))


def _basis(roi: RoiReport) -> str:
    return (
        f"From {roi.treated.outcomes:,} treated and {roi.control.outcomes:,} control outcomes; "
        f"{roi.actions_taken:,} actions taken."
    )


def _insufficient(
    spec: Spec, roi: RoiReport, days: int, period: str, share: float, quality: list[str]
) -> Headline:
    needed = roi.needed_control_outcomes
    per_day = roi.control.outcomes / days
    if needed is None or per_day <= 0:
        sentence = (
            f"Not enough outcomes yet: {roi.control.outcomes:,} control outcomes over {period}; "
            f"at least {spec.monitoring.min_samples.roi:,} are needed in each group. Record "
            "outcomes to measure what acting is worth."
        )
        count = roi.control.outcomes
        number = f"{count:,} control outcome{'' if count == 1 else 's'}"
        return Headline("insufficient", sentence, number, details=[roi.message, *quality])
    wait = needed / per_day
    test = "two-proportion" if roi.kind == "label" else "two-sample"
    sentence = (
        f"Not enough outcomes yet: at the current volume, {duration_text(wait)} until a conclusion"
    )
    larger = min(0.5, max(0.2, 2 * share))
    faster = _with_share(spec, roi, larger, share, per_day) if share < 0.5 else None
    if faster is not None and duration_text(faster) != duration_text(wait):
        sentence += f" (or raise the control share to {larger:.0%}: {duration_text(faster)})"
    sentence += "."
    detail = (
        f"{needed:,} more control outcomes are needed ({test} test, alpha {roi.alpha}, power "
        f"{roi.power}); {roi.control.outcomes:,} came in over {days:,} "
        f"day{'s' if days != 1 else ''} ({per_day:.1f} a day)."
    )
    return Headline("insufficient", sentence, duration_text(wait), details=[detail, *quality])


def _with_share(
    spec: Spec, roi: RoiReport, larger: float, share: float, per_day: float
) -> float | None:
    """Days until a conclusion with the control share raised to ``larger`` (labels only)."""
    if roi.kind != "label":
        return None
    c_rate, t_rate = roi.control.rate.value, roi.treated.rate.value
    if c_rate is None or t_rate is None:
        return None
    floor = spec.monitoring.min_samples.roi
    required = math.inf
    if roi.uplift.value is not None and roi.uplift.value > 0:  # as ROI's own calculation
        required = required_control_size(c_rate, t_rate, (1 - larger) / larger)
    total = max(floor, math.ceil(required)) if math.isfinite(required) else floor
    more = max(0, total - roi.control.outcomes)
    return more / (per_day * larger / share)


def _quality_words(report: MonitoringReport) -> list[str]:
    auc = report.quality.total.metric("auc")
    if auc is None or auc.value is None or not report.quality.total.enough:
        return []
    outcome = report.outcome
    happened = f"{outcome.field} = {outcome.positive}" if outcome.positive else outcome.field
    return [
        f"Quality: AUC {auc.value:.2f} over {report.quality.total.labelled:,} labelled decisions. "
        f"Of two cases picked at random, one with {happened} and one without, the one with it "
        f"gets the higher score {auc.value:.0%} of the time (50% would be a coin toss)."
    ]
