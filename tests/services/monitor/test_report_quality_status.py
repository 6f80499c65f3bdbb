"""Quality judged and drawn: the HTML report and the dashboard's panel show each window's
metric statuses against the spec's thresholds (never "ok" for a window with too few outcomes),
and the charts fit their data with the thresholds drawn as lines."""

from __future__ import annotations

import re
from datetime import timedelta

from tests.services.monitor.test_report import NOW, START, simulate, spec
from tests.services.monitor.test_report_html import parse, row
from tests.services.monitor.test_report_json import JUDGED

from doorstep.services.monitor.report import monitoring_report
from doorstep.services.monitor.report_charts import Series, ThresholdLine, line_chart
from doorstep.services.monitor.report_html import render_report_html, render_report_panel
from doorstep.store import Store


def marker_heights(svg: str) -> list[float]:
    """The y of each data point (circles after the legend's)."""
    return [float(y) for y in re.findall(r'<circle cx="[\d.]+" cy="([\d.]+)"', svg)][1:]


def test_a_small_fall_is_visible_and_thresholds_are_lines() -> None:
    auc = Series("AUC", [0.971, 0.968, 0.955])
    near = [ThresholdLine(0.96, "warn", "AUC warn ≤ 0.96")]
    far = [ThresholdLine(0.65, "alert", "AUC alert ≤ 0.65")]
    svg = line_chart("c", "AUC", "AUC per day.", ["a", "b", "c"], [auc], thresholds=near + far)
    first, _, last = marker_heights(svg)
    assert last - first > 60  # px of a 156 px plot: on a fixed 0-1 axis it would be 2.5 px
    lines = re.findall(r'<g class="threshold threshold-(\w+)"><line [^>]*y1="([\d.]+)"', svg)
    assert [level for level, _ in lines] == ["warn"]  # near the data: drawn as a line
    assert first < float(lines[0][1]) < last  # between 0.971 and 0.955
    assert "▼ AUC alert ≤ 0.65 (off the chart)" in svg  # far below: named at the edge


def test_report_and_panel_show_each_windows_status(store: Store) -> None:
    simulate(store, 600, seed=7)
    report = monitoring_report(
        spec(JUDGED), store, since=START, until=START + timedelta(days=10), now=NOW
    )
    html = render_report_html(report)
    parse(html)
    windows = re.findall(r'<tr data-status="(\w+)"><th scope="row">([^<]+)</th>', html)
    shown = {start[:10]: status for status, start in windows}
    expected = {w.start.isoformat()[:10]: w.status for w in report.quality.windows}
    assert shown == expected and shown["2025-03-08"] == "insufficient_data"
    assert {"ok", "warn", "alert", "insufficient_data"} <= set(shown.values())
    few = re.search(r'<tr data-status="insufficient_data">.*?</tr>', html, re.S)
    assert few is not None and "✓" not in few.group(0) and "too few outcomes" in few.group(0)
    auc = re.search(r'<svg class="chart" id="chart-auc".*?</svg>', html, re.S)
    assert (
        auc is not None and "threshold-warn" in auc.group(0) and "AUC alert ≤ 0.6" in auc.group(0)
    )
    assert "warn" in row(html, "q-auc")  # the whole range: 0.644, at or below warn's 0.7
    assert 'id="quality-status"' in html and "worst day" in html

    panel = render_report_panel(report)
    latest = report.quality.windows[-1]
    assert latest.statuses["auc"] == "ok"
    assert re.search(r'<tr id="panel-q-auc" data-status="ok">', panel)
    assert "✓ ok" in row(panel, "panel-q-auc")
