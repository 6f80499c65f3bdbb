"""The CLI's summaries of drift never say ``ok`` when nothing was measured: ``doorstep monitor``'s
drift table, ``doorstep report``'s one line and an alert run's headline say
``insufficient_data`` for a range (or run) with too few rows everywhere, and how many windows a
mixed range's status rests on (the aggregation itself: tests/services/monitor/
test_insufficient_data.py)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest
from rich.console import Console
from tests.services.monitor.test_insufficient_data import INSUFFICIENT, observation, section, window
from tests.services.monitor.test_report import NOW, START, spec

from doorstep.cli import monitor_render
from doorstep.cli.drift_render import render_drift
from doorstep.cli.monitor_render import render_alerts
from doorstep.services.monitor.alerts import MonitorResult
from doorstep.services.monitor.on_demand import WrittenReport
from doorstep.services.monitor.report import monitoring_report
from doorstep.store import Store
from doorstep.types import DriftSection


def shown(drift: DriftSection) -> str:
    out = Console(width=200, record=True)
    render_drift(drift, out)
    return out.export_text()


def test_a_range_with_too_few_rows_everywhere_is_not_ok() -> None:
    text = shown(section(window(0, [INSUFFICIENT], rows=40), window(1, None)))
    assert (
        "Drift, worst of the range: insufficient_data (no window had the 1000 rows a status needs)"
        in text
    )
    assert "worst of the range: ok" not in text
    assert "Drift, worst of the range: insufficient_data" in shown(section(window(0, None)))


def test_a_mixed_range_says_what_its_status_rests_on() -> None:
    text = shown(section(window(0, ["ok"]), window(1, [INSUFFICIENT]), window(2, ["ok"])))
    assert (
        "Drift, worst of the range: ok (2 of 3 windows with decisions measured; 1 with too few "
        "rows)" in text
    )
    assert "with too few rows" not in shown(section(window(0, ["warn"]), window(1, None)))


def test_the_report_line_says_insufficient_data(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    empty = monitoring_report(spec(), store, now=NOW)
    report = replace(empty, drift=section(window(0, None), window(1, [INSUFFICIENT])))
    out = Console(width=400, record=True)
    monkeypatch.setattr(monitor_render, "console", out)
    monitor_render.written(WrittenReport(report, Path("report.html"), 2048))
    assert "drift insufficient_data." in out.export_text()


def test_an_alert_run_with_nothing_judged_says_so() -> None:
    observations = [observation("drift.plan", INSUFFICIENT), observation("drift.x", INSUFFICIENT)]
    result = MonitorResult("churn", "day", START, NOW, observations, [], {})
    out = Console(width=200, record=True)
    render_alerts(result.as_dict(), out)
    headline = out.export_text().splitlines()[0]
    assert headline.endswith(": insufficient_data"), headline
