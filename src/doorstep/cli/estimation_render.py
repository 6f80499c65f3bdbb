"""How ``doorstep monitor`` shows estimated quality: per window, each metric estimated from
the calibrated scores (binary) or the loss models (regression), with its 95% sampling
interval, beside the realised one once outcomes are known, a mark where they diverge, and the
calibration or the reference errors it stands on."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

from doorstep.core.stats.intervals import Interval
from doorstep.types.estimation import EstimationSection

__all__ = ["render_estimation"]

_STYLE = {"warn": "yellow", "alert": "bold red", "insufficient_data": "dim"}
_MARK = {"ok": "✓", "warn": "▲", "alert": "✖", "insufficient_data": "(few)"}
_SHOWN = ("auc", "precision", "recall", "f1", "expected_value", "mae", "rmse")
_SHORT = {"precision": "prec.", "expected_value": "value", "mae": "MAE", "rmse": "RMSE"}


def _estimate(item: Interval | None) -> str:
    if item is None or item.value is None:
        return "—"
    if item.low is None or item.high is None:
        return f"{item.value:.3f}"
    return f"{item.value:.3f}\n±{(item.high - item.low) / 2:.3f}"


def _realised(item: Interval | None, diverged: bool) -> str:
    if item is None or item.value is None:
        return ""
    text = f"→{item.value:.3f}"
    return f"\n[bold red]{text} ≠[/]" if diverged else f"\n{text}"


def render_estimation(section: EstimationSection, out: Console, *, window: str = "day") -> None:
    """Print the report's ``estimated`` section: per window and metric, the estimate with its
    interval and, beneath it, the realised value once known."""
    if not section.available:
        out.print(
            f"Estimated quality: unavailable: {section.note}", highlight=False, soft_wrap=True
        )
        return
    width = 13 if window == "hour" else 10
    metrics = [m for m in _SHOWN if any(m in w.estimated for w in section.windows)]
    table = Table(title="Estimated quality (before outcomes)", title_justify="left")
    table.add_column("window", min_width=width)
    table.add_column("n", justify="right", overflow="fold")
    for name in metrics:  # folded at spaces, never cut with an ellipsis, in a narrow terminal
        table.add_column(_SHORT.get(name, name), overflow="fold")
    for entry in section.windows:
        if not entry.rows:
            continue
        cells = [entry.start.isoformat()[:width], str(entry.rows)]
        for name in metrics:
            text = _estimate(entry.estimated.get(name))
            status = entry.statuses.get(name) if name in section.thresholds else None
            if status is not None:
                style = _STYLE.get(status)
                text = f"{text} {_MARK.get(status, status)}"
                text = f"[{style}]{text}[/]" if style else text
            cells.append(text + _realised(entry.realised.get(name), name in entry.diverged))
        table.add_row(*cells)
    out.print(table)
    loss = section.loss
    if loss is not None:
        out.print(
            f"Errors estimated by loss models fitted on {loss.rows} reference outcomes (MAE "
            f"{loss.reference_mae:.4g}, RMSE {loss.reference_rmse:.4g} there). Each cell: the "
            "estimate from n decisions, ± its 95% sampling interval, → the realised value once "
            "outcomes are known; ≠ marks one outside the interval (the loss models no longer "
            "hold: concept drift).",
            highlight=False,
            soft_wrap=True,
        )
    check = section.calibration
    if check is not None:
        out.print(
            f"Calibrated on {check.rows} reference outcomes ({check.method}): calibration error "
            f"{check.ece_raw:.3f} raw, {check.ece_calibrated:.3f} calibrated (out of fold). "
            f"A positive prediction: {section.predicted}. Each cell: the estimate from n "
            "decisions, ± its 95% sampling interval, → the realised value once outcomes are "
            "known; ≠ marks one outside the interval (the calibration no longer holds: concept "
            "drift).",
            highlight=False,
            soft_wrap=True,
        )
