"""The drift part of ``doorstep monitor``: each window's status, flagged features and attribution
shift, then the latest window's statistics and attribution shares feature by feature."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from rich.console import Console
from rich.table import Table

from doorstep.core.stats.drift_report import RANK

if TYPE_CHECKING:
    from doorstep.types import Check, ColumnDrift, DriftSection, DriftWindow

__all__ = ["flagged", "render_drift"]

_STYLE = {"alert": "bold red", "warn": "yellow", "ok": "green", "insufficient_data": "dim"}


def _number(value: float | None) -> str:
    return "—" if value is None else f"{value:.3f}"


def _status(status: str) -> str:
    style = _STYLE.get(status)
    return f"[{style}]{status}[/]" if style else status


def _multivariate(entry: DriftWindow) -> str:
    found = entry.multivariate
    if found is None or found.increase is None:
        return "—"
    return f"{found.increase:+.1%} {_status(found.status)}"


def render_drift(drift: DriftSection, out: Console, *, window: str = "day") -> None:
    """Print the report's ``drift`` section (``window``: the report's window length)."""
    width = 13 if window == "hour" or window.endswith("rows") else 10
    out.print(
        f"Drift, worst of the range: {_status(drift.status)}{_coverage(drift)}", soft_wrap=True
    )
    table = Table(title="Drift against the reference data", title_justify="left")
    table.add_column("window", min_width=width)
    multivariate = any(w.multivariate is not None for w in drift.windows)
    names = ["decisions", "status", "flagged (warn or worse)", "attribution shift"]
    if multivariate:
        names.append("multivariate (PCA error rise)")
    for name in names:
        table.add_column(name, overflow="fold")  # a name is folded, never cut
    for entry in drift.windows:
        if entry.rows:
            attribution = entry.attribution
            cells = [
                entry.start.isoformat()[:width],
                str(entry.rows),
                _status(entry.status),
                ", ".join(flagged(entry)) or "—",
                "—"
                if attribution is None
                else f"{_number(attribution.shift)} {_status(attribution.status)}",
            ]
            if multivariate:
                cells.append(_multivariate(entry))
            table.add_row(*cells)
    out.print(table)
    latest = drift.latest
    if latest is None:
        out.print("Drift: no decisions in the range.")
        return
    detail = Table(
        title=f"Latest window {latest.start.isoformat()[:width]} ({latest.rows} decisions)",
        title_justify="left",
    )
    columns = [*latest.features, *([latest.score] if latest.score is not None else [])]
    others = ("status", "PSI", "JS", "Wasserstein/σ", "missing")
    room = out.width - sum(max(len(n), 5) + 3 for n in others) - 4
    detail.add_column("feature", overflow="fold", min_width=_name_width(columns, room))
    for name in others:
        detail.add_column(name, overflow="fold")
    for column in columns:
        detail.add_row(
            column.name,
            _status(column.status),
            _number(column.psi),
            _number(column.js_distance),
            _number(column.wasserstein_norm),
            _number(column.missing_rate),
        )
    out.print(detail)
    crossed = [c for c in columns if c.checks]  # beside the table: the table keeps its names
    if crossed:
        out.print("Checks crossed in the latest window:")
        for column in crossed:
            checks = "; ".join(_check(c) for c in column.checks)
            out.print(f"  {column.name}: {checks}", highlight=False, soft_wrap=True)
    render_attribution(drift, latest, out)


def flagged(entry: DriftWindow) -> list[str]:
    """The window's features at warn or worse, and ``score`` when the score is."""
    score = entry.score
    drifted = score is not None and RANK.get(score.status, -1) >= RANK["warn"]
    return [*entry.flagged, *(["score"] if drifted else [])]


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
    others = ("reference share", "window share", "change", "status")
    room = out.width - sum(len(n) + 3 for n in others) - 4
    names = [share.feature for share in attribution.features]
    table.add_column("feature", overflow="fold", min_width=min(max(map(len, names)), room))
    for name in others:
        table.add_column(name, overflow="fold")
    for share in attribution.features:
        table.add_row(
            share.feature,
            _number(share.reference_share),
            _number(share.share),
            _number(share.share_change),
            _status(share.status),
        )
    out.print(table)


def _name_width(columns: list[ColumnDrift], room: int) -> int:
    """The longest name's width when the line has ``room`` for it (else it folds: a name is
    never cut)."""
    return max(7, min(max((len(c.name) for c in columns), default=7), room))


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
