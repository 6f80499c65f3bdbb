"""``doorstep monitor``'s drift tables at 80 columns: every feature name whole (folded onto a
second line when it cannot fit, never cut with an ellipsis), no table cropped, and the score
named in the "flagged" column when it drifted."""

from __future__ import annotations

from datetime import timedelta

from rich.console import Console
from tests.services.monitor.test_insufficient_data import column, section
from tests.services.monitor.test_report import START

from doorstep.cli.drift_render import flagged, render_drift
from doorstep.core.stats.drift_report import DriftReport
from doorstep.types import DriftWindow

LONG = "average_monthly_spend_over_the_last_twelve_months"
NAMES = [LONG, "days_since_last_login", "support_tickets_30d", "plan"]


def drifted_window() -> DriftWindow:
    features = tuple(column(name, "ok") for name in NAMES)
    score = column("score", "warn")
    report = DriftReport(2_000, features, score, (), None, "warn")
    return DriftWindow(START, START + timedelta(days=1), report)


def body_cells(text: str, title: str) -> list[list[str]]:
    """The rows of the table under ``title``, each cell's folded lines joined."""
    lines = text.split(title, 1)[1].splitlines()
    body = next(i for i, line in enumerate(lines) if line.startswith("┡")) + 1
    rows: list[list[str]] = []
    for line in lines[body:]:
        if not line.startswith("│"):
            break
        cells = [cell.strip() for cell in line.strip("│").split("│")]
        if rows and not cells[1]:  # a folded continuation of the row above
            rows[-1] = [a + b for a, b in zip(rows[-1], cells, strict=True)]
        else:
            rows.append(cells)
    return rows


def test_names_are_whole_at_80_columns_and_the_score_is_flagged() -> None:
    window = drifted_window()
    assert flagged(window) == ["score"]
    out = Console(width=80, record=True)
    render_drift(section(window), out)
    text = out.export_text()
    assert "…" not in text, text
    tables = [line for line in text.splitlines() if line[:1] in "┏┃┡│└"]
    assert all(line.rstrip()[-1] in "┓┃┩│┘" for line in tables), text  # nothing cropped
    summary = body_cells(text, "Drift against the reference data")
    assert summary[0][3] == "score"  # the "flagged" column
    detail = body_cells(text, "Latest window")
    assert [row[0] for row in detail] == [*NAMES, "score"]
    assert "days_since_last_login" in text  # short enough: on one line
