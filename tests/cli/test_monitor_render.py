"""``doorstep monitor`` for people, 80 columns wide: each quality value with its status mark,
a status per window (never a mark of "ok" for a window with too few outcomes), the thresholds
under the table, and nothing cut off."""

from __future__ import annotations

import io
from datetime import timedelta
from pathlib import Path

from rich.console import Console
from tests.services.monitor.test_report import NOW, SPEC, START, simulate, spec
from tests.services.monitor.test_report_json import JUDGED

from doorstep.cli.monitor_render import render_report
from doorstep.services.monitor.report import monitoring_report
from doorstep.store import open_store

BORDERS = tuple("│┃┓┫┩┤┐┘")


def rendered(width: int, text: str, tmp_path: Path) -> str:
    with open_store(f"sqlite:///{tmp_path / 'q.db'}") as store:
        simulate(store, 600, seed=7)
        report = monitoring_report(
            spec(text), store, since=START, until=START + timedelta(days=10), now=NOW
        )
    out = Console(width=width, record=True, file=io.StringIO())
    render_report(report, out)
    return out.export_text()


def test_quality_table_shows_statuses_in_80_columns(tmp_path: Path) -> None:
    text = rendered(80, JUDGED, tmp_path)
    lines = text.splitlines()
    table = [line for line in lines if line[:1] in "┏┃┡│└"]
    assert table and all(line.rstrip().endswith(BORDERS + ("┛",)) for line in table), text
    rows = {line.split("│")[1].strip(): line for line in table if line.startswith("│ 2025")}
    assert "✖ alert" in rows["2025-03-05"] and "0.419 ✖" in rows["2025-03-05"]
    assert "▲ warn" in rows["2025-03-01"] and "✓ ok" in rows["2025-03-02"]
    few = rows["2025-03-08"]
    assert "… too few" in few and "✓" not in few
    assert "Thresholds (monitoring.alerts.quality): auc warn ≤ 0.7, alert ≤ 0.6" in text
    assert "All, with 95% intervals: auc 0.644 [0.601, 0.688]" in text


def test_without_thresholds_there_is_no_status_column(tmp_path: Path) -> None:
    text = rendered(80, SPEC, tmp_path)
    assert "status" not in text.split("ROI")[0] and "✓" not in text
