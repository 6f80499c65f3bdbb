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
from datetime import datetime
from functools import cache
from importlib import resources
from typing import TYPE_CHECKING, Any

import jinja2
from markupsafe import Markup

from doorstep import __version__
from doorstep.services.monitor.report_charts import (
    IntervalRow,
    Series,
    bar_chart,
    interval_chart,
    line_chart,
)

if TYPE_CHECKING:
    from doorstep.store.alerts import AlertState

__all__ = ["REPORT_CSP", "render_report_html", "render_report_panel", "report_csp"]

STATUS_MARK = {"ok": "✓", "warn": "▲", "alert": "✖", "insufficient_data": "…"}
STATUS_TEXT = {"ok": "ok", "warn": "warn", "alert": "alert", "insufficient_data": "too few rows"}
QUALITY_METRICS: dict[str, list[tuple[str, str]]] = {
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
    env.filters["num"] = _num
    env.filters["pct"] = lambda v, digits=1: _num(v, digits, 100) + ("" if v is None else " %")
    env.filters["interval"] = _interval
    env.filters["pint"] = lambda item: (
        _interval(item, 1, 100) + (" %" if item and item.get("value") is not None else "")
    )
    env.filters["day"] = lambda text, window="day": _label(text, window)
    return env


def _num(value: Any, digits: int = 3, scale: float = 1.0) -> str:
    if value is None:
        return "—"
    if isinstance(value, float) and value != value:
        return "—"
    if value == float("inf"):
        return "∞"
    return f"{value * scale:.{digits}f}"


def _interval(item: dict[str, Any] | None, digits: int = 3, scale: float = 1.0) -> str:
    """``0.858 [0.836, 0.879]``, or ``—`` when nothing was measured."""
    if not item or item.get("value") is None:
        return "—"
    text = _num(item["value"], digits, scale)
    if item.get("low") is not None and item.get("high") is not None:
        text += f" [{_num(item['low'], digits, scale)}, {_num(item['high'], digits, scale)}]"
    return text


def _label(start: str, window: str) -> str:
    """A window's short name: ``03-07`` (days, weeks) or ``03-07 14h`` (hours)."""
    moment = datetime.fromisoformat(start)
    return moment.strftime("%m-%d %Hh" if window == "hour" else "%m-%d")


def _metric(windows: list[dict[str, Any]], key: str) -> Series:
    def part(name: str) -> list[float | None]:
        return [(w.get(key) or {}).get(name) for w in windows]

    return Series(key, part("value"), part("low"), part("high"))


def _named(series: Series, name: str) -> Series:
    return Series(name, series.values, series.low, series.high)


def _quality_charts(report: dict[str, Any], labels: list[str]) -> list[Markup]:
    quality = report["quality"]
    windows = quality["windows"]
    task = quality["total"]["task"]
    span = f"per {report['window']}, with 95% intervals"
    charts = []
    if task == "binary":
        charts.append(
            line_chart(
                "chart-auc", "AUC", f"AUC of the labelled decisions {span} (DeLong).",
                labels, [_named(_metric(windows, "auc"), "AUC")], y_range=(0.0, 1.0),
            )
        )  # fmt: skip
        charts.append(
            line_chart(
                "chart-pr", "Precision and recall",
                f"Precision and recall at the action threshold {span} (Wilson).", labels,
                [_named(_metric(windows, "precision"), "precision"),
                 _named(_metric(windows, "recall"), "recall")],
                y_range=(0.0, 1.0),
            )
        )  # fmt: skip
        charts.append(
            line_chart(
                "chart-brier", "Brier score", f"Brier score {span}; lower is better.",
                labels, [_named(_metric(windows, "brier"), "Brier score")], digits=3,
            )
        )  # fmt: skip
    else:
        for key, name in QUALITY_METRICS.get(task, []):
            charts.append(
                line_chart(
                    f"chart-{key}", name, f"{name} of the labelled decisions {span}.",
                    labels, [_named(_metric(windows, key), name)], digits=3,
                )
            )  # fmt: skip
    charts.append(
        bar_chart(
            "chart-labelled", "Labelled decisions",
            f"Decisions with a known outcome, per {report['window']}.", labels,
            [w["labelled"] for w in windows], name="labelled",
        )
    )  # fmt: skip
    return charts


def _override_chart(report: dict[str, Any], labels: list[str]) -> Markup:
    windows = report["overrides"]["windows"]
    series = [_named(_metric(windows, "override_rate"), "override rate")]
    if any("right_rate" in w for w in windows):
        series.append(_named(_metric(windows, "right_rate"), "overrides right"))
    return line_chart(
        "chart-overrides",
        "Overrides",
        f"Share of verdicts that overrode the policy, and of judged overrides that were right, "
        f"per {report['window']} of the decisions, with 95% intervals (Wilson).",
        labels,
        series,
        y_range=(0.0, 1.0),
        scale=100,
        digits=0,
        unit=" %",
    )


def _roi_chart(roi: dict[str, Any]) -> Markup | None:
    if "uplift" not in roi:
        return None
    label = roi.get("outcome") == "label"
    name = "outcome rate" if label else "mean outcome"
    key = "outcome_rate" if label else "mean_outcome"
    rows = [
        IntervalRow(f"treated {name}", *_triple(roi["treated"][key])),
        IntervalRow(f"control {name}", *_triple(roi["control"][key])),
        IntervalRow("uplift", *_triple(roi["uplift"])),
    ]
    unit = " pts" if label else ""
    return interval_chart(
        "chart-roi",
        "Treated versus control",
        f"Outcome of treated and control decisions and the uplift, with 95% intervals; "
        f"the vertical line is zero. Goal: {roi.get('goal')}.",
        rows,
        scale=100 if label else 1,
        digits=1,
        unit=unit,
    )


def _triple(item: dict[str, Any]) -> tuple[float | None, float | None, float | None]:
    return item.get("value"), item.get("low"), item.get("high")


def _drift(report: dict[str, Any], labels: list[str]) -> dict[str, Any] | None:
    drift = report.get("drift")
    if not drift:
        return None
    indexed = [(labels[i], w) for i, w in enumerate(drift["windows"]) if w["rows"]]
    heat = indexed[-HEATMAP_WINDOWS:]
    score = None
    if any(w.get("score") for w in drift["windows"]):
        values: list[float | None] = [
            (w.get("score") or {}).get("psi") if w["rows"] else None for w in drift["windows"]
        ]
        score = line_chart(
            "chart-score-psi",
            "Score drift (PSI)",
            f"PSI of the score distribution against the reference, per {report['window']}; "
            "the reference's own quantile bins.",
            labels,
            [Series("score PSI", values)],
            digits=2,
        )
    latest = drift.get("latest")
    columns = []
    if latest is not None:
        full = latest["report"]
        columns = [*full["features"], *([full["score"]] if full.get("score") else [])]
    return {
        "section": drift,
        "heat": heat,
        "heat_cut": len(indexed) - len(heat),
        "score_chart": score,
        "columns": columns,
    }


def render_report_html(report: dict[str, Any], *, owner: str | None = None) -> str:
    """The whole report as one HTML document (``report``: a monitoring report object)."""
    window = report["window"]
    labels = [_label(w["start"], window) for w in report["quality"]["windows"]]
    roi = report["roi"]
    context = {
        "r": report,
        "owner": owner,
        "version": __version__,
        "css": Markup(_css()),
        "csp": report_csp(),
        "labels": labels,
        "metrics": QUALITY_METRICS.get(report["quality"]["total"]["task"], []),
        "quality_charts": _quality_charts(report, labels),
        "override_chart": _override_chart(report, labels),
        "roi_chart": _roi_chart(roi),
        "drift": _drift(report, labels),
        "mark": STATUS_MARK,
        "status_text": STATUS_TEXT,
        "roi_status": ROI_STATUS.get(roi["conclusion"], "none"),
    }
    return _environment().get_template("report.html").render(context)


def render_report_panel(
    report: dict[str, Any], *, alerts: Sequence[AlertState] = (), report_url: str = ""
) -> str:
    """The dashboard's monitoring panel (an HTML fragment) from the same report object and the
    same charts as the report: the headline quality metric per window, the latest window with
    labelled decisions, ROI, drift per feature in the latest windows, and open ``alerts``."""
    window = report["window"]
    labels = [_label(w["start"], window) for w in report["quality"]["windows"]]
    roi = report["roi"]
    metrics = QUALITY_METRICS.get(report["quality"]["total"]["task"], [])
    if report["quality"]["total"]["task"] == "binary":
        metrics = [m for m in metrics if m[0] in ("auc", "brier")]
    labelled = [w for w in report["quality"]["windows"] if w["labelled"]]
    drift = _drift(report, labels)
    if drift is not None:  # the worst first: a panel is read from the top
        drift["columns"].sort(key=lambda column: SEVERITY.get(column["status"], len(SEVERITY)))
    context = {
        "r": report,
        "report_url": report_url,
        "metrics": metrics[:2],
        "latest": labelled[-1] if labelled else None,
        "quality_chart": _quality_charts(report, labels)[0],
        "roi": roi,
        "roi_chart": _roi_chart(roi),
        "roi_status": ROI_STATUS.get(roi["conclusion"], "none"),
        "drift": drift,
        "heat": drift["heat"][-PANEL_WINDOWS:] if drift else [],
        "alerts": list(alerts),
        "mark": STATUS_MARK,
        "status_text": STATUS_TEXT,
    }
    return _environment().get_template("monitoring_panel.html").render(context)
