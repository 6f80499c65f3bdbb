"""The drift part of ``doorstep monitor``: each window's status and flagged features, then the
latest window's statistics feature by feature."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.table import Table

__all__ = ["render_drift"]

_STYLE = {"alert": "bold red", "warn": "yellow", "ok": "green"}


def _number(value: float | None) -> str:
    return "—" if value is None else f"{value:.3f}"


def _status(status: str) -> str:
    style = _STYLE.get(status)
    return f"[{style}]{status}[/]" if style else status


def render_drift(drift: dict[str, Any], out: Console, *, window: str = "day") -> None:
    """Print the report's ``drift`` section (``window``: the report's window length)."""
    width = 13 if window == "hour" else 10
    table = Table(title="Drift against the reference data", title_justify="left")
    for name in ("window", "decisions", "status", "flagged (warn or worse)"):
        table.add_column(name)
    for entry in drift["windows"]:
        if entry["rows"]:
            table.add_row(
                entry["start"][:width],
                str(entry["rows"]),
                _status(entry["status"]),
                ", ".join(entry["flagged"]) or "—",
            )
    out.print(table)
    latest = drift["latest"]
    if latest is None:
        out.print("Drift: no decisions in the range.")
        return
    report = latest["report"]
    detail = Table(
        title=f"Latest window {latest['start'][:width]} ({latest['rows']} decisions)",
        title_justify="left",
    )
    for name in ("feature", "status", "PSI", "JS", "Wasserstein/σ", "missing", "checks"):
        detail.add_column(name)
    columns = [*report["features"], *([report["score"]] if report["score"] else [])]
    for column in columns:
        detail.add_row(
            column["name"],
            _status(column["status"]),
            _number(column["psi"]),
            _number(column["js_distance"]),
            _number(column["wasserstein_norm"]),
            _number(column["missing_rate"]),
            "; ".join(_check(c) for c in column["checks"]) or "—",
        )
    out.print(detail)


def _check(check: dict[str, Any]) -> str:
    value = check["value"]
    shown = "inf" if value is None else f"{value:.3g}"
    return f"{check['statistic']} {shown} >= {check['threshold']:g} ({check['level']})"
