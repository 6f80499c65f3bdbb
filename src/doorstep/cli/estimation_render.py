"""How ``doorstep monitor`` shows estimated quality: per window, each metric estimated from
the calibrated scores (with its 95% sampling interval) beside the realised one once outcomes
are known, a mark where they diverge, and the calibration it stands on."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

from doorstep.core.stats.intervals import Interval
from doorstep.types.estimation import EstimationSection

__all__ = ["render_estimation"]

_STYLE = {"warn": "yellow", "alert": "bold red", "insufficient_data": "dim"}
_MARK = {"ok": "✓", "warn": "▲", "alert": "✖", "insufficient_data": "…"}
_SHOWN = ("auc", "precision", "recall", "f1", "expected_value")


def _estimate(item: Interval | None) -> str:
    if item is None or item.value is None:
        return "—"
    if item.low is None or item.high is None:
        return f"{item.value:.3f}"
    return f"{item.value:.3f} ±{(item.high - item.low) / 2:.3f}"


def _realised(item: Interval | None, diverged: bool) -> str:
    if item is None or item.value is None:
        return "—"
    text = f"{item.value:.3f}"
    return f"[bold red]{text} ≠[/]" if diverged else text


def render_estimation(section: EstimationSection, out: Console, *, window: str = "day") -> None:
    """Print the report's ``estimated`` section."""
    if not section.available:
        out.print(
            f"Estimated quality: unavailable: {section.note}", highlight=False, soft_wrap=True
        )
        return
    width = 13 if window == "hour" else 10
    metrics = [m for m in _SHOWN if any(m in w.estimated for w in section.windows)]
    table = Table(title="Estimated quality (before outcomes)", title_justify="left")
    table.add_column("window", min_width=width)
    table.add_column("decisions", justify="right")
    for name in metrics:
        table.add_column(f"{name} est.", overflow="fold")
        table.add_column("real", overflow="fold")
    for entry in section.windows:
        if not entry.rows:
            continue
        cells = [entry.start.isoformat()[:width], str(entry.rows)]
        for name in metrics:
            status = entry.statuses.get(name)
            text = _estimate(entry.estimated.get(name))
            if status is not None:
                style = _STYLE.get(status)
                text = f"{text} {_MARK.get(status, status)}"
                text = f"[{style}]{text}[/]" if style else text
            cells += [text, _realised(entry.realised.get(name), name in entry.diverged)]
        table.add_row(*cells)
    out.print(table)
    check = section.calibration
    if check is not None:
        out.print(
            f"Calibrated on {check.rows} reference outcomes ({check.method}): calibration error "
            f"{check.ece_raw:.3f} raw, {check.ece_calibrated:.3f} calibrated (out of fold). "
            f"A positive prediction: {section.predicted}. ± is the 95% sampling interval; "
            "≠ marks a realised value outside it (the calibration no longer holds: concept "
            "drift).",
            highlight=False,
            soft_wrap=True,
        )
