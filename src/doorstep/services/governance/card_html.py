"""A model card (:class:`~doorstep.services.governance.card.ModelCard`) as one self-contained
HTML page: the monitoring report's style sheet inline (allowed by its hash in the page's own
Content-Security-Policy, ``default-src 'none'``), charts as inline SVG from the report's chart
helpers, no script, nothing loaded."""

from __future__ import annotations

from functools import cache

import jinja2
from markupsafe import Markup

from doorstep.core.stats.fairness_report import SELECTED, AttributeFairness
from doorstep.core.stats.roi_report import RoiReport
from doorstep.services.governance.card import ModelCard
from doorstep.services.monitor.report_charts import IntervalRow, interval_chart
from doorstep.services.monitor.report_html import (
    QUALITY_METRICS,
    ROI_STATUS,
    STATUS_MARK,
    STATUS_TEXT,
    add_report_filters,
    report_csp,
    report_css,
)

__all__ = ["render_card_html"]


@cache
def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("doorstep.services.governance", "templates"),
        autoescape=jinja2.select_autoescape(default=True),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    add_report_filters(env)
    return env


def render_card_html(card: ModelCard) -> str:
    """The whole card as one HTML document."""
    roi = card.monitoring.roi
    context = {
        "c": card,
        "css": Markup(report_css()),
        "csp": report_csp(),
        "metrics": QUALITY_METRICS.get(card.task, []),
        "importance_chart": _importance_chart(card),
        "fairness_charts": [
            _fairness_chart(a) for a in (card.fairness.attributes if card.fairness else ())
        ],
        "roi_status": ROI_STATUS.get(roi.conclusion, "none")
        if isinstance(roi, RoiReport)
        else "none",
        "mark": STATUS_MARK,
        "status_text": STATUS_TEXT,
    }
    return _environment().get_template("card.html").render(context)


def _importance_chart(card: ModelCard) -> Markup:
    points = card.task != "regression"
    rows = [
        IntervalRow(_short(f.label), f.mean_abs_effect.value, f.mean_abs_effect.low,
                    f.mean_abs_effect.high)
        for f in card.importance.features[:12]
    ]  # fmt: skip
    return interval_chart(
        "chart-importance",
        "Mean absolute effect on the score",
        "Per feature, over the explained decisions, with 95% intervals"
        + (" (points of probability)." if points else " (target units)."),
        rows,
        digits=1 if points else 2,
        unit=" pts" if points else "",
    )


def _short(label: str, width: int = 20) -> str:
    """A chart's row label that fits its column (the table beside it has the whole)."""
    return label if len(label) <= width else label[: width - 1] + "…"


def _fairness_chart(attribute: AttributeFairness) -> Markup:
    rows = [
        IntervalRow(
            _short(g.group),
            *(
                (g.selection[SELECTED].value, g.selection[SELECTED].low, g.selection[SELECTED].high)
                if g.enough
                else (None, None, None)
            ),
        )
        for g in attribute.groups
    ]
    return interval_chart(
        f"chart-fairness-{attribute.attribute}",
        f"Selected, by {attribute.attribute}",
        f"Share of each group's decisions selected, with 95% intervals (Wilson); groups under "
        f"{attribute.min_group} decisions are not measured.",
        rows,
        scale=100,
        digits=1,
        unit=" %",
    )
