"""The model versions of a monitoring report for people (``doorstep monitor``): champion
against challenger with the verdict, and each version's score drift."""

from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.table import Table

from doorstep.types.versions import VersionsSection

__all__ = ["render_versions"]


def render_versions(section: VersionsSection, out: Console) -> None:
    """A table of the versions compared and of their scores' drift, and the verdict."""
    comparison = section.comparison
    sides = [s for s in (comparison.get("champion"), comparison.get("challenger")) if s]
    if sides:
        mode = comparison.get("mode")
        table = Table(
            title=f"Versions: champion {section.champion} against its challenger"
            + (f" ({mode})" if mode else ""),
            title_justify="left",
        )
        for column in ("version", "role", "decisions", "with an outcome", "override rate"):
            table.add_column(column, justify="left" if column in ("version", "role") else "right")
        for side in sides:
            rate = side.get("override_rate")
            table.add_row(
                str(side["version"]), str(side["role"]), str(side["decisions"]),
                str(side["labelled"]), "—" if rate is None else f"{rate * 100:.1f} %",
            )  # fmt: skip
        out.print(table)
    out.print(f"Verdict: {section.verdict}", highlight=False, soft_wrap=True)
    if not section.drift:
        return
    drift = Table(title="Score drift per version", title_justify="left")
    for column in ("version", "scores of", "scores", "PSI vs champion", "PSI vs reference"):
        drift.add_column(column, justify="left" if column in ("version", "scores of") else "right")
    for row in section.drift:
        summary = row.to_dict()
        drift.add_row(
            row.version, row.role, str(row.scores), _psi(summary["against_champion"]),
            _psi(summary["against_reference"]),
        )  # fmt: skip
    out.print(drift)


def _psi(summary: dict[str, Any] | None) -> str:
    if summary is None or summary["psi"] is None:
        return "—"
    return f"{summary['psi']:.3f} ({summary['status']})"
