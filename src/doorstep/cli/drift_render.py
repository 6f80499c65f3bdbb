"""The drift part of ``doorstep monitor``: each window's status, flagged features and attribution
shift, then the latest window's statistics and attribution shares feature by feature."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from rich.console import Console
from rich.table import Table

if TYPE_CHECKING:
    from doorstep.types import Check, DriftSection, DriftWindow

__all__ = ["render_drift"]

_STYLE = {"alert": "bold red", "warn": "yellow", "ok": "green", "insufficient_data": "dim"}


def _number(value: float | None) -> str:
    return "—" if value is None else f"{value:.3f}"


def _status(status: str) -> str:
    style = _STYLE.get(status)
    return f"[{style}]{status}[/]" if style else status


def render_drift(drift: DriftSection, out: Console, *, window: str = "day") -> None:
    """Print the report's ``drift`` section (``window``: the report's window length)."""
    width = 13 if window == "hour" else 10
    out.print(
        f"Drift, worst of the range: {_status(drift.status)}{_coverage(drift)}", soft_wrap=True
    )
    table = Table(title="Drift against the reference data", title_justify="left")
    for name in ("window", "decisions", "status", "flagged (warn or worse)", "attribution shift"):
        table.add_column(name)
    for entry in drift.windows:
        if entry.rows:
            attribution = entry.attribution
            table.add_row(
                entry.start.isoformat()[:width],
                str(entry.rows),
                _status(entry.status),
                ", ".join(entry.flagged) or "—",
                "—"
                if attribution is None
                else f"{_number(attribution.shift)} {_status(attribution.status)}",
            )
    out.print(table)
    latest = drift.latest
    if latest is None:
        out.print("Drift: no decisions in the range.")
        return
    detail = Table(
        title=f"Latest window {latest.start.isoformat()[:width]} ({latest.rows} decisions)",
        title_justify="left",
    )
    for name in ("feature", "status", "PSI", "JS", "Wasserstein/σ", "missing", "checks"):
        detail.add_column(name)
    columns = [*latest.features, *([latest.score] if latest.score is not None else [])]
    for column in columns:
        detail.add_row(
            column.name,
            _status(column.status),
            _number(column.psi),
            _number(column.js_distance),
            _number(column.wasserstein_norm),
            _number(column.missing_rate),
            "; ".join(_check(c) for c in column.checks) or "—",
        )
    out.print(detail)
    render_attribution(drift, latest, out)


def render_attribution(drift: DriftSection, latest: DriftWindow, out: Console) -> None:
    """The latest window's share of the model's attention per feature, or why there is none."""
    attribution = latest.attribution
    if attribution is None:
        note = drift.attribution.note
        out.print(f"Attribution drift: not measured in this window{f' ({note})' if note else ''}.")
        return
    table = Table(
        title=f"Attribution drift (share of mean |SHAP|), shift {_number(attribution.shift)}",
        title_justify="left",
    )
    for name in ("feature", "reference share", "window share", "change", "status"):
        table.add_column(name)
    for share in attribution.features:
        table.add_row(
            share.feature,
            _number(share.reference_share),
            _number(share.share),
            _number(share.share_change),
            _status(share.status),
        )
    out.print(table)


def _coverage(drift: DriftSection) -> str:
    """What the range's status rests on, when some windows with decisions had too few rows."""
    if not drift.unmeasured:
        return ""
    if not drift.measured:
        return f" (no window had the {drift.thresholds.min_rows} rows a status needs)"
    shown = drift.measured + drift.unmeasured
    return (
        f" ({drift.measured} of {shown} windows with decisions measured; "
        f"{drift.unmeasured} with too few rows)"
    )


def _check(check: Check) -> str:
    value = check.value
    shown = "inf" if not math.isfinite(value) else f"{value:.3g}"
    return f"{check.statistic} {shown} >= {check.threshold:g} ({check.level})"
