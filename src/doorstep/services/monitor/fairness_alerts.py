"""Fairness as alert subjects: each sensitive attribute and statistic of
``monitoring.fairness.alerts`` (``fairness.region.demographic_parity_difference``) judged on the
window a monitor run judges, with the same statuses as quality — ``insufficient_data`` when
fewer than two groups have ``min_group`` decisions, never ``ok``."""

from __future__ import annotations

from datetime import datetime

from doorstep.core.spec.alerts import QualityThresholdSpec
from doorstep.core.spec.fairness import FAIRNESS_LOWER_IS_WORSE
from doorstep.core.spec.models import Spec
from doorstep.core.stats.drift_report import Status
from doorstep.core.stats.fairness_report import SELECTED, AttributeFairness, Disparity
from doorstep.services.monitor.alert_messages import Observation
from doorstep.services.monitor.fairness import fairness_report
from doorstep.store.protocols import OutcomeStore

__all__ = ["FAIRNESS_STATISTICS", "fairness_observations"]

FAIRNESS_STATISTICS = {
    "demographic_parity_difference": "demographic-parity difference",
    "demographic_parity_ratio": "demographic-parity ratio",
    "equalized_odds_difference": "equalized-odds difference",
}


def fairness_observations(
    spec: Spec, store: OutcomeStore, *, window: str, start: datetime, end: datetime
) -> list[Observation]:
    """One observation per attribute and statistic given a threshold, judged on the decisions
    of ``[start, end)`` (none without ``monitoring.fairness.alerts`` or sensitive inputs)."""
    alerts = spec.monitoring.fairness.alerts
    if alerts is None or not spec.sensitive_fields:
        return []
    report = fairness_report(spec, store, since=start, until=end, now=end)
    out = []
    for attribute in report.attributes:
        for statistic, given in alerts.thresholds().items():
            found = _disparity(attribute, statistic)
            value = found.estimate.value
            status = _status(value, statistic, given)
            threshold = given.alert if status == "alert" or given.warn is None else given.warn
            checks: tuple[str, ...] = ()
            name = FAIRNESS_STATISTICS[statistic]
            if status in ("warn", "alert") and value is not None:
                sign = "<=" if statistic in FAIRNESS_LOWER_IS_WORSE else ">="
                checks = (
                    f"{name} {value:.4g} {sign} {threshold:g} ({status}; "
                    f"{found.high_group} highest, {found.low_group} lowest)",
                )
            out.append(
                Observation(
                    subject=f"fairness.{attribute.attribute}.{statistic}",
                    kind="fairness",
                    name=attribute.attribute,
                    label=f"{name} by {attribute.attribute}",
                    status=status,
                    statistic=statistic,
                    value=value,
                    threshold=threshold,
                    checks=checks,
                    window=window,
                    start=start,
                    end=end,
                    count=report.decisions,
                    streak=1 if status == "alert" else 0,
                )
            )
    return out


def _disparity(attribute: AttributeFairness, statistic: str) -> Disparity:
    if statistic == "demographic_parity_difference":
        return attribute.parity_difference[SELECTED]
    if statistic == "demographic_parity_ratio":
        return attribute.parity_ratio[SELECTED]
    return attribute.equalized_odds_difference


def _status(value: float | None, statistic: str, given: QualityThresholdSpec) -> Status:
    if value is None:
        return "insufficient_data"
    lower = statistic in FAIRNESS_LOWER_IS_WORSE
    for level, limit in (("alert", given.alert), ("warn", given.warn)):
        if limit is not None and (value <= limit if lower else value >= limit):
            return "alert" if level == "alert" else "warn"
    return "ok"
