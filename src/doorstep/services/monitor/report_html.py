"""The monitoring report as one self-contained HTML file: ``doorstep report --out report.html``
and the page ``GET /apps/{app}/report`` render the same report object the API returns
(:func:`doorstep.services.monitor.report.monitoring_report`) with the same template.

The file loads nothing: styles are inline (allowed by their hash in the file's own
Content-Security-Policy, ``default-src 'none'``), charts are inline SVG drawn here
(:mod:`doorstep.services.monitor.report_charts`), there is no script, and every number of a chart is
also in a table. See ``docs/monitoring.md`` ("The HTML report").
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache
from importlib import resources
from typing import TYPE_CHECKING, Any

import jinja2
from markupsafe import Markup

from doorstep import __version__
from doorstep.core.stats.drift_report import ColumnDrift
from doorstep.core.stats.intervals import Interval
from doorstep.core.stats.quality_report import QualityMetric
from doorstep.core.stats.roi_report import RoiReport
from doorstep.services.monitor.alert_messages import statistic_name
from doorstep.services.monitor.report_charts import (
    IntervalRow,
    Series,
    ThresholdLine,
    bar_chart,
    interval_chart,
    line_chart,
)
from doorstep.services.monitor.report_estimation import estimation_view, multivariate_chart
from doorstep.types.drift import DriftSection, DriftWindow
from doorstep.types.monitoring import MonitoringReport, QualityWindow, RoiUnavailable

if TYPE_CHECKING:
    from doorstep.store.alerts import AlertState

__all__ = [
    "REPORT_CSP",
    "add_report_filters",
    "render_report_html",
    "render_report_panel",
    "report_css",
    "report_csp",
]

STATUS_MARK = {"ok": "✓", "warn": "▲", "alert": "✖", "insufficient_data": "…"}
STATUS_TEXT = {"ok": "ok", "warn": "warn", "alert": "alert", "insufficient_data": "too few rows"}
QUALITY_TEXT = {**STATUS_TEXT, "insufficient_data": "too few outcomes"}
"""A quality metric's status in words (its data are labelled decisions, not rows)."""
QUALITY_METRICS: dict[str, list[tuple[QualityMetric, str]]] = {
    "binary": [("auc", "AUC"), ("brier", "Brier score"), ("precision", "Precision"),
               ("recall", "Recall"), ("positive_rate", "Positive rate")],
    "regression": [("mae", "MAE"), ("rmse", "RMSE"), ("mean_error", "Mean error")],
    "multiclass": [("accuracy", "Accuracy")],
}  # fmt: skip
HEATMAP_WINDOWS = 60
"""At most this many windows (the latest with decisions) in the drift heatmap."""
PANEL_WINDOWS = 7
"""The dashboard's panel shows drift in this many of the latest windows with decisions."""
ROI_STATUS = {"uplift": "ok", "harm": "alert", "no_uplift": "warn", "inconclusive": "warn",
              "too_small": "warn"}  # fmt: skip
"""The status (colour and mark) of each ROI conclusion; others are ``none``."""
SEVERITY = {"alert": 0, "warn": 1, "ok": 2, "insufficient_data": 3}


@cache
def _css() -> str:
    return (resources.files("doorstep.services.monitor") / "templates" / "report.css").read_text(
        "utf-8"
    )


def report_css() -> str:
    """The report's style sheet, to inline in another self-contained page under
    :func:`report_csp` (the model card)."""
    return _css()


def report_csp() -> str:
    """The report's Content-Security-Policy: nothing may load, only its own inline style."""
    digest = base64.b64encode(hashlib.sha256(_css().encode()).digest()).decode()
    return (
        f"default-src 'none'; style-src 'sha256-{digest}'; img-src data:; "
        "base-uri 'none'; form-action 'none'"
    )


REPORT_CSP = "frame-ancestors 'none'"
"""Added to :func:`report_csp` when the report is served as a page (not valid in a meta tag)."""


@cache
def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("doorstep.services.monitor", "templates"),
        autoescape=jinja2.select_autoescape(default=True),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    add_report_filters(env)
    return env


def add_report_filters(env: jinja2.Environment) -> None:
    """The report's filters (``num``, ``pct``, ``interval``, ``pint``, ``day``, ``iso``), for
    another template that shows the same numbers the same way."""
    env.filters["num"] = _num
    env.filters["pct"] = lambda v, digits=1: _num(v, digits, 100) + ("" if v is None else " %")
    env.filters["interval"] = _interval
    env.filters["pint"] = lambda item: (
        _interval(item, 1, 100) + (" %" if item is not None and item.value is not None else "")
    )
    env.filters["day"] = lambda moment, window="day": _label(moment, window)
    env.filters["iso"] = lambda moment: moment.isoformat()
    env.filters["when"] = lambda moment: moment.strftime("%Y-%m-%d %H:%M UTC")  # for people


def _num(value: Any, digits: int = 3, scale: float = 1.0) -> str:
    if value is None:
        return "—"
    if isinstance(value, float) and value != value:
        return "—"
    if value == float("inf"):
        return "∞"
    return f"{value * scale:.{digits}f}"


def _interval(item: Interval | None, digits: int = 3, scale: float = 1.0) -> str:
    """``0.858 [0.836, 0.879]``, or ``—`` when nothing was measured."""
    if item is None or item.value is None:
        return "—"
    text = _num(item.value, digits, scale)
    if item.low is not None and item.high is not None:
        text += f" [{_num(item.low, digits, scale)}, {_num(item.high, digits, scale)}]"
    return text


def _label(start: datetime, window: str) -> str:
    """A window's short name: ``03-07`` (days, weeks), ``2026-03`` (months) or ``03-07 14h``
    (hours, and windows of rows: where each starts)."""
    if window == "month":  # the start is UTC: a local month may start the evening before
        return (start + timedelta(days=14)).strftime("%Y-%m")
    return start.strftime("%m-%d" if window in ("day", "week") else "%m-%d %Hh")


def _series(name: str, intervals: Sequence[Interval | None]) -> Series:
    return Series(
        name,
        [i.value if i is not None else None for i in intervals],
        [i.low if i is not None else None for i in intervals],
        [i.high if i is not None else None for i in intervals],
    )


def _metric(windows: Sequence[QualityWindow], key: QualityMetric, name: str) -> Series:
    return _series(name, [w.quality.metric(key) for w in windows])


def _lines(
    report: MonitoringReport, names: Sequence[str], scale: float = 1.0, unit: str = ""
) -> list[ThresholdLine]:
    """The spec's thresholds of ``names`` as lines, labelled ``AUC alert ≤ 0.65``."""
    lines = []
    for name in names:
        limit = report.quality.thresholds.get(name)
        if limit is None:
            continue
        sign = "≥" if limit.direction == "higher_is_worse" else "≤"
        shown = statistic_name(name)
        derived = report.quality.derived.get(name)
        source = f" (reference, {derived.k:g}σ)" if derived is not None else ""
        for level, value in (("warn", limit.warn), ("alert", limit.alert)):
            if value is not None:
                text = f"{shown} {level} {sign} {value * scale:.4g}{unit}{source}"
                lines.append(ThresholdLine(value, level, text))
    return lines


def _quality_charts(report: MonitoringReport, labels: list[str]) -> list[Markup]:
    windows = report.quality.windows
    task = report.quality.total.task
    span = f"per {report.window}, with 95% intervals; the axis fits the values"
    lined = ", dashed lines at the thresholds in force" if report.quality.thresholds else ""
    charts = []
    if task == "binary":
        charts.append(
            line_chart(
                "chart-auc", "AUC", f"AUC of the labelled decisions {span}{lined} (DeLong).",
                labels, [_metric(windows, "auc", "AUC")], digits=3,
                thresholds=_lines(report, ["auc"]),
            )
        )  # fmt: skip
        charts.append(
            line_chart(
                "chart-pr", "Precision and recall",
                f"Precision and recall at the action threshold {span}{lined} (Wilson).", labels,
                [_metric(windows, "precision", "precision"),
                 _metric(windows, "recall", "recall")],
                thresholds=_lines(report, ["precision", "recall"]),
            )
        )  # fmt: skip
        charts.append(
            line_chart(
                "chart-brier", "Brier score", f"Brier score {span}{lined}; lower is better.",
                labels, [_metric(windows, "brier", "Brier score")], digits=3,
                thresholds=_lines(report, ["brier"]),
            )
        )  # fmt: skip
    else:
        for key, name in QUALITY_METRICS.get(task, []):
            charts.append(
                line_chart(
                    f"chart-{key}", name, f"{name} of the labelled decisions {span}{lined}.",
                    labels, [_metric(windows, key, name)], digits=3,
                    thresholds=_lines(report, [key]),
                )
            )  # fmt: skip
    charts.append(
        bar_chart(
            "chart-labelled", "Labelled decisions",
            f"Decisions with a known outcome, per {report.window}.", labels,
            [w.quality.labelled for w in windows], name="labelled",
        )
    )  # fmt: skip
    return charts


def _override_chart(report: MonitoringReport, labels: list[str]) -> Markup:
    windows = report.overrides.windows
    series = [_series("override rate", [w.override_rate for w in windows])]
    if any(w.judgement is not None for w in windows):
        rates = [w.judgement.right_rate if w.judgement is not None else None for w in windows]
        series.append(_series("overrides right", rates))
    return line_chart(
        "chart-overrides",
        "Overrides",
        f"Share of verdicts that overrode the policy, and of judged overrides that were right, "
        f"per {report.window} of the decisions, with 95% intervals (Wilson).",
        labels,
        series,
        scale=100,
        digits=0,
        unit=" %",
        thresholds=_lines(report, ["override_rate"], 100, " %"),
    )


def _roi_chart(roi: RoiReport | RoiUnavailable) -> Markup | None:
    if not isinstance(roi, RoiReport):
        return None
    label = roi.kind == "label"
    name = "outcome rate" if label else "mean outcome"
    rows = [
        IntervalRow(f"treated {name}", *_triple(roi.treated.rate)),
        IntervalRow(f"control {name}", *_triple(roi.control.rate)),
        IntervalRow("uplift", *_triple(roi.uplift)),
    ]
    unit = " pts" if label else ""
    return interval_chart(
        "chart-roi",
        "Treated versus control",
        f"Outcome of treated and control decisions and the uplift, with 95% intervals; "
        f"the vertical line is zero. Goal: {roi.goal}.",
        rows,
        scale=100 if label else 1,
        digits=1,
        unit=unit,
    )


def _triple(item: Interval) -> tuple[float | None, float | None, float | None]:
    return item.value, item.low, item.high


@dataclass(frozen=True)
class _DriftView:
    """What the templates show of the drift section."""

    section: DriftSection
    heat: list[tuple[str, DriftWindow]]
    """The latest windows with decisions (at most :data:`HEATMAP_WINDOWS`), with their labels."""
    heat_cut: int
    """Earlier windows with decisions left out of the heatmap."""
    score_chart: Markup | None
    columns: list[ColumnDrift]
    """The latest window's features and score (the worst first in the panel)."""


def _drift(
    report: MonitoringReport, labels: list[str], *, worst_first: bool = False
) -> _DriftView | None:
    drift = report.drift
    if drift is None:
        return None
    indexed = [(labels[i], w) for i, w in enumerate(drift.windows) if w.rows]
    heat = indexed[-HEATMAP_WINDOWS:]
    score = None
    if any(w.score is not None for w in drift.windows):
        values: list[float | None] = [
            w.score.psi if w.rows and w.score is not None else None for w in drift.windows
        ]
        score = line_chart(
            "chart-score-psi",
            "Score drift (PSI)",
            f"PSI of the score distribution against the reference, per {report.window}; "
            "the reference's own quantile bins.",
            labels,
            [Series("score PSI", values)],
            digits=2,
        )
    latest = drift.latest
    columns: list[ColumnDrift] = []
    if latest is not None:
        columns = [*latest.features, *([latest.score] if latest.score is not None else [])]
    if worst_first:  # a panel is read from the top
        columns.sort(key=lambda column: SEVERITY.get(column.status, len(SEVERITY)))
    return _DriftView(drift, heat, len(indexed) - len(heat), score, columns)


def render_report_html(report: MonitoringReport, *, owner: str | None = None) -> str:
    """The whole report as one HTML document."""
    labels = [_label(w.start, report.window) for w in report.quality.windows]
    roi = report.roi
    context = {
        "r": report,
        "owner": owner,
        "version": __version__,
        "css": Markup(_css()),
        "csp": report_csp(),
        "labels": labels,
        "metrics": QUALITY_METRICS.get(report.quality.total.task, []),
        "quality_charts": _quality_charts(report, labels),
        "override_chart": _override_chart(report, labels),
        "roi_measured": isinstance(roi, RoiReport),
        "roi_chart": _roi_chart(roi),
        "drift": _drift(report, labels),
        "estimation": estimation_view(report, labels),
        "multivariate_chart": None
        if report.drift is None
        else multivariate_chart(report.drift, report.window, labels),
        "mark": STATUS_MARK,
        "status_text": STATUS_TEXT,
        "quality_text": QUALITY_TEXT,
        "roi_status": ROI_STATUS.get(roi.conclusion, "none"),
    }
    return _environment().get_template("report.html").render(context)


def render_report_panel(
    report: MonitoringReport, *, alerts: Sequence[AlertState] = (), report_url: str = ""
) -> str:
    """The dashboard's monitoring panel (an HTML fragment) from the same report object and the
    same charts as the report: the headline quality metric per window, the latest window with
    labelled decisions, ROI, drift per feature in the latest windows, and open ``alerts``."""
    labels = [_label(w.start, report.window) for w in report.quality.windows]
    roi = report.roi
    metrics = QUALITY_METRICS.get(report.quality.total.task, [])
    if report.quality.total.task == "binary":
        metrics = [m for m in metrics if m[0] in ("auc", "brier")]
    labelled = [w for w in report.quality.windows if w.quality.labelled]
    drift = _drift(report, labels, worst_first=True)
    context = {
        "r": report,
        "report_url": report_url,
        "metrics": metrics[:2],
        "latest": labelled[-1] if labelled else None,
        "quality_chart": _quality_charts(report, labels)[0],
        "roi": roi,
        "roi_measured": isinstance(roi, RoiReport),
        "roi_chart": _roi_chart(roi),
        "roi_status": ROI_STATUS.get(roi.conclusion, "none"),
        "drift": drift,
        "heat": drift.heat[-PANEL_WINDOWS:] if drift else [],
        "alerts": list(alerts),
        "mark": STATUS_MARK,
        "status_text": STATUS_TEXT,
        "quality_text": QUALITY_TEXT,
    }
    return _environment().get_template("monitoring_panel.html").render(context)
