"""The HTML report's estimated quality and multivariate drift: per metric a chart with two
lines, the estimate (calibrated scores, before outcomes) and the realised value (once outcomes
are known), each with its 95% band; and the PCA reconstruction error per window against the
reference's, with the warn and alert levels drawn."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from markupsafe import Markup

from doorstep.core.stats.intervals import Interval
from doorstep.services.monitor.report_charts import Series, ThresholdLine, line_chart
from doorstep.types.drift import DriftSection
from doorstep.types.estimation import EstimationSection
from doorstep.types.monitoring import MonitoringReport

__all__ = ["EstimationView", "estimation_view", "multivariate_chart"]

NAMES = {
    "auc": "AUC",
    "precision": "precision",
    "recall": "recall",
    "f1": "F1",
    "expected_value": "value per decision",
    "mae": "MAE",
    "rmse": "RMSE",
}


@dataclass(frozen=True)
class EstimationView:
    """What the report's template shows of the estimated section."""

    section: EstimationSection
    charts: list[Markup]
    metrics: list[tuple[str, str]]
    """The metrics estimated, as (key, name)."""


def _series(name: str, intervals: Sequence[Interval | None]) -> Series:
    return Series(
        name,
        [i.value if i is not None else None for i in intervals],
        [i.low if i is not None else None for i in intervals],
        [i.high if i is not None else None for i in intervals],
    )


def _lines(section: EstimationSection, key: str) -> list[ThresholdLine]:
    limit = section.thresholds.get(key)
    if limit is None:
        return []
    sign = "≥" if limit.direction == "higher_is_worse" else "≤"
    return [
        ThresholdLine(value, level, f"estimated {NAMES[key]} {level} {sign} {value:g}")
        for level, value in (("warn", limit.warn), ("alert", limit.alert))
        if value is not None
    ]


def estimation_view(report: MonitoringReport, labels: list[str]) -> EstimationView | None:
    section = report.estimated
    if section is None:
        return None
    if not section.available:
        return EstimationView(section, [], [])
    windows = section.windows
    keys = [k for k in NAMES if any(k in w.estimated for w in windows)]
    dle = section.method == "dle"
    source = "the loss models' predicted errors" if dle else "the calibrated scores"
    basis = "loss model" if dle else "calibration"
    charts = []
    for key in keys:
        name = NAMES[key]
        estimated = [w.estimated.get(key) if w.rows else None for w in windows]
        realised = [w.realised.get(key) for w in windows]
        charts.append(
            line_chart(
                f"chart-estimated-{key}",
                f"Estimated {name}",
                f"{name} per {report.window}: estimated from {source} of every "
                "decision (solid, with its 95% sampling band) and realised on the labelled "
                "decisions once outcomes arrive (dashed). Realised outside the estimate's band: "
                f"the {basis} no longer holds (concept drift).",
                labels,
                [_series("estimated", estimated), _series("realised", realised)],
                digits=2 if key in ("expected_value", "mae", "rmse") else 3,
                thresholds=_lines(section, key),
            )
        )
    return EstimationView(section, charts, [(k, NAMES[k]) for k in keys])


def multivariate_chart(drift: DriftSection, window: str, labels: list[str]) -> Markup | None:
    """The windows' mean reconstruction error and the reference's, with the warn and alert
    levels (``None`` when no window has one)."""
    found = [w.multivariate if w.rows else None for w in drift.windows]
    reference = next((m.reference_error for m in found if m is not None), None)
    if reference is None:
        return None
    limits = drift.thresholds.reconstruction_increase
    lines = [
        ThresholdLine(reference * (1 + limits.warn), "warn", f"warn: +{limits.warn:.0%}"),
        ThresholdLine(reference * (1 + limits.alert), "alert", f"alert: +{limits.alert:.0%}"),
    ]
    return line_chart(
        "chart-multivariate",
        "Multivariate drift",
        f"Mean PCA reconstruction error of the inputs per {window}, with its 95% interval, against "
        "the reference's (the flat line): rows the reference's main directions rebuild worse "
        "move in ways the reference did not.",
        labels,
        [
            _series("window", [m.error if m is not None else None for m in found]),
            Series("reference", [reference] * len(found)),
        ],
        digits=3,
        thresholds=lines,
    )
