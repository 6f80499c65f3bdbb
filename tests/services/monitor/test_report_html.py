"""The HTML monitoring report: rendered from the report object of a real store (decisions with
outcomes drawn from a known model), it shows that object's numbers, says when the control group
is too small, marks drifted features as alerts, loads nothing and parses as HTML. (The page
``GET /apps/{app}/report`` is tested in ``tests/web/pages/test_report_page.py``.)"""

from __future__ import annotations

import re
from datetime import timedelta
from html.parser import HTMLParser
from pathlib import Path

import pytest
from markupsafe import escape
from tests.services.monitor.test_report import NOW, START, simulate, spec

from doorstep.services.monitor.report import monitoring_report
from doorstep.services.monitor.report_html import (
    render_report_html,
    render_report_panel,
    report_csp,
)
from doorstep.store import Store
from doorstep.types import Interval, MonitoringReport, QualityMetric, RoiReport

VOID = {"meta", "link", "br", "hr", "img", "input", "col", "wbr", "source", "area", "base"}
SVG_LEAVES = {"line", "circle", "rect", "polygon", "polyline", "path"}


class Checked(HTMLParser):
    """A strict reading: every element closed in order; collects ids, attributes and text."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self.ids: set[str] = set()
        self.attributes: list[tuple[str, str, str]] = []
        self.tags: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        for name, value in attrs:
            self.attributes.append((tag, name, value or ""))
            if name == "id":
                assert value not in self.ids, f"duplicate id {value}"
                self.ids.add(value or "")
        if tag not in VOID:
            self.stack.append(tag)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        for name, value in attrs:
            self.attributes.append((tag, name, value or ""))

    def handle_endtag(self, tag: str) -> None:
        if tag in VOID:
            return
        assert self.stack and self.stack[-1] == tag, f"</{tag}> closes <{self.stack[-1:]}>"
        self.stack.pop()


def parse(html: str) -> Checked:
    checked = Checked()
    checked.feed(html)
    checked.close()
    assert checked.stack == [], checked.stack
    return checked


def row(html: str, row_id: str) -> str:
    found = re.search(rf'<tr id="{row_id}"[^>]*>(.*?)</tr>', html, re.S)
    assert found is not None, row_id
    return re.sub(r"<[^>]+>", " ", found.group(1))


def interval(item: Interval | None, digits: int = 3, scale: float = 1.0) -> str:
    assert item is not None and item.value is not None, item
    assert item.low is not None and item.high is not None, item
    value, low, high = item.value * scale, item.low * scale, item.high * scale
    return f"{value:.{digits}f} [{low:.{digits}f}, {high:.{digits}f}]"


def measured(report: MonitoringReport) -> RoiReport:
    assert isinstance(report.roi, RoiReport), report.roi
    return report.roi


def assert_self_contained(html: str, checked: Checked) -> None:
    for tag, name, value in checked.attributes:
        if name in ("src", "href", "srcset", "action", "poster", "data"):
            assert not re.match(r"\s*(https?:)?//", value), (tag, name, value)
            assert not value.startswith(("file:", "javascript:")), (tag, name, value)
    assert "http://" not in html and "https://" not in html
    assert "<script" not in html and "<link" not in html and "<iframe" not in html
    assert "url(" not in html and "@import" not in html


def test_report_shows_the_report_objects_numbers(store: Store) -> None:
    simulate(store, 600, seed=7)  # a control group too small for a conclusion
    report = monitoring_report(
        spec(), store, since=START, until=START + timedelta(days=10), now=NOW
    )
    html = render_report_html(report, owner="maria@example.com")
    checked = parse(html)
    assert_self_contained(html, checked)
    assert f'content="{escape(report_csp())}"' in html  # the file forbids itself every load

    total = report.quality.total
    keys: tuple[QualityMetric, ...] = ("auc", "brier", "precision", "recall", "positive_rate")
    for key in keys:
        assert interval(total.metric(key)) in row(html, f"q-{key}"), key
    assert str(total.labelled) in row(html, "q-labelled")
    counts = report.counts
    assert f"{counts.decisions} decisions, {counts.labelled} with a known outcome" in html
    assert "v1 (600 decisions)" in html
    for b in total.calibration:
        if b.count:
            assert interval(b.positive_rate) in html
    for window in report.quality.windows:
        if window.quality.labelled:
            assert interval(window.quality.metric("auc")) in html  # the per-window table

    roi = measured(report)
    assert roi.conclusion == "too_small"
    message = re.search(r'id="roi-message">(.*?)</p>', html, re.S)
    assert message is not None and roi.message in message.group(1)
    assert f"{roi.needed_control_outcomes} more control outcomes" in roi.message
    assert str(roi.needed_control_outcomes) in row(html, "roi-needed")
    assert interval(roi.uplift, 1, 100) in row(html, "roi-uplift")
    assert interval(roi.value, 0) in row(html, "roi-value")
    treated = row(html, "roi-treated")
    assert str(roi.treated.outcomes) in treated
    assert interval(roi.treated.rate, 1, 100) in treated
    assert interval(roi.control.rate, 1, 100) in row(html, "roi-control")

    for chart in ("chart-auc", "chart-pr", "chart-brier", "chart-labelled", "chart-overrides"):
        assert chart in checked.ids, chart
    assert "chart-roi" in checked.ids
    svg = re.search(r'<svg class="chart" id="chart-auc".*?</svg>', html, re.S)
    assert svg is not None and "<polygon" in svg.group(0)  # the AUC line's interval band
    assert svg.group(0).count("<circle") >= 10  # ten days with labelled decisions (+ legend)
    assert "Not measured: the spec names no reference data" in html  # drift is None here


def test_override_rates_per_window_are_shown(store: Store) -> None:
    from tests.services.monitor.test_report import test_overrides_are_counted_and_judged

    test_overrides_are_counted_and_judged(store)
    report = monitoring_report(
        spec(), store, window="hour", since=START, until=START + timedelta(hours=8), now=NOW
    )
    html = render_report_html(report)
    parse(html)
    table = re.search(r'<table id="overrides-windows">(.*?)</table>', html, re.S)
    assert table is not None
    assert table.group(1).count("<tr>") == 7  # header + six hours with verdicts or pending
    assert "override rate 80.0 [" in html and "3 right (75.0 [" in html


def test_a_report_without_anything_renders(store: Store) -> None:
    report = monitoring_report(spec(), store, now=NOW)
    html = render_report_html(report)
    parse(html)
    assert "No labelled decisions in the range." in html
    assert "nothing measured in this range" in html
    assert "no decisions in the range" in html


def test_the_dashboard_panel_shows_the_same_numbers(store: Store) -> None:
    simulate(store, 600, seed=7)  # a control group too small for a conclusion
    report = monitoring_report(
        spec(), store, since=START, until=START + timedelta(days=10), now=NOW
    )
    html = render_report_panel(report, report_url="/apps/churn/report")
    checked = parse(html)
    assert "<script" not in html and 'href="/apps/churn/report"' in html
    latest = [w for w in report.quality.windows if w.quality.labelled][-1]
    total = report.quality.total
    keys: tuple[QualityMetric, ...] = ("auc", "brier")
    for key in keys:
        assert interval(latest.quality.metric(key)) in row(html, f"panel-q-{key}")
        assert interval(total.metric(key)) in row(html, f"panel-q-{key}")
    assert "panel-q-precision" not in checked.ids  # the panel is the short version
    roi = measured(report)
    assert roi.conclusion == "too_small"
    message = re.search(r'id="panel-roi-message">(.*?)</p>', html, re.S)
    assert message is not None and roi.message in message.group(1)
    assert f"{roi.needed_control_outcomes} more control outcomes" in message.group(1)
    assert str(roi.needed_control_outcomes) in row(html, "panel-roi-needed")
    assert interval(roi.uplift, 1, 100) in row(html, "panel-roi-uplift")
    assert interval(roi.value, 0) in row(html, "panel-roi-value")
    assert {"chart-auc", "chart-roi"} <= checked.ids
    assert "Not measured: the spec names no reference data." in html
    assert "panel-alerts" not in checked.ids  # no alert states, no table


def test_an_empty_panel_renders(store: Store) -> None:
    html = render_report_panel(monitoring_report(spec(), store, now=NOW))
    parse(html)
    assert "No labelled decisions in the range" in html
    assert "nothing measured in this range" in html


@pytest.mark.slow
def test_drifted_features_are_marked_alert(churn_app: Path, store: Store) -> None:
    from tests.services.monitor.test_drift import DAYS, DRIFTED, SHIFT_DAY, decide_days
    from tests.services.monitor.test_drift import START as DAY0

    from doorstep.services.apps.loading import load_app
    from doorstep.services.monitor.drift import reference_profile

    app = load_app(churn_app / "doorstep.yaml")
    decide_days(app, store)
    report = monitoring_report(
        app.spec,
        store,
        window="day",
        since=DAY0,
        until=DAY0 + timedelta(days=DAYS),
        now=DAY0 + timedelta(days=DAYS + 1),
        profile=reference_profile(app),
    )
    html = render_report_html(report)
    checked = parse(html)
    assert_self_contained(html, checked)
    latest = re.search(r'<table id="drift-latest">(.*?)</table>', html, re.S)
    assert latest is not None
    statuses = dict(
        re.findall(r'<tr data-feature="([^"]+)" data-status="([^"]+)"', latest.group(1))
    )
    assert {name for name, status in statuses.items() if status == "alert"} == {*DRIFTED, "score"}
    assert statuses["plan"] == "ok"  # the score moves with the drifted inputs (days idle drives it)
    for name in DRIFTED:  # colour is not the only signal: the word and a mark are there too
        cells = re.search(rf'<tr data-feature="{name}" data-status="alert">(.*?)</tr>', html, re.S)
        assert cells is not None and "✖ alert" in cells.group(1)
        assert report.drift is not None and report.drift.latest is not None
        column = report.drift.latest.column(name)
        assert column is not None and column.psi is not None
        assert f"{column.psi:.3f}" in cells.group(1)
    heat = re.search(r'<table class="heat" id="drift-heatmap">(.*?)</table>', html, re.S)
    assert heat is not None
    spend = re.search(r'<tr data-feature="monthly_spend">(.*?)</tr>', heat.group(1), re.S)
    assert spend is not None
    days = re.findall(r'<td class="status-(\w+)"', spend.group(1))
    assert days[:SHIFT_DAY] == ["ok"] * SHIFT_DAY and days[SHIFT_DAY + 1 :] == ["alert"] * 2
    assert 'id="drift-status">✖ alert' in html
    assert "chart-score-psi" in checked.ids and "data-quality-table" in checked.ids
    # missing values per window, not only the latest: each window's rate, as the JSON has it
    quality = re.search(r'<table class="heat" id="data-quality-heatmap">(.*?)</table>', html, re.S)
    assert quality is not None
    assert report.drift is not None
    shown = [w for w in report.drift.windows if w.rows][-len(days) :]
    for name in ("monthly_spend", "plan"):
        found = re.search(rf'<tr data-feature="{name}">(.*?)</tr>', quality.group(1), re.S)
        assert found is not None
        rates = re.findall(r'<td class="num"[^>]*>(.*?)</td>', found.group(1))
        assert len(rates) == len(shown)
        for cell, window in zip(rates, shown, strict=True):
            column = window.column(name)
            assert column is not None and column.missing_rate is not None
            assert cell.startswith(f"{column.missing_rate * 100:.1f} %")


def test_regression_and_multiclass_reports_render(store: Store) -> None:
    from tests.services.monitor import test_report as monitoring

    monitoring.test_regression_report(store)
    text = (
        monitoring.SPEC.replace("task: binary, positive_class: 1", "task: regression")
        .replace("score >= 0.5", "score >= 100")
        .replace("field: churned", "field: spend, goal: increase")
    )
    report = monitoring_report(
        spec(text), store, since=START, until=START + timedelta(days=1), now=NOW
    )
    html = render_report_html(report)
    parse(html)
    keys: tuple[QualityMetric, ...] = ("mae", "rmse")
    for key in keys:
        assert interval(report.quality.total.metric(key)) in row(html, f"q-{key}")
        assert f"chart-{key}" in html
    assert "mean outcome [95% interval]" in html and "calibration-table" not in html
    uplift = measured(report).uplift.value
    assert (f"{uplift:.1f}" if uplift is not None else "—") in row(html, "roi-uplift")


def test_multiclass_report_renders(store: Store) -> None:
    from tests.services.monitor import test_report as monitoring

    monitoring.test_multiclass_accuracy_and_roi_on_a_named_class(store)
    text = (
        monitoring.SPEC.replace("task: binary, positive_class: 1", "task: multiclass")
        .replace('"score >= 0.5"', "\"predicted_class = 'gold'\"")
        .replace("field: churned", "field: tier")
    )
    report = monitoring_report(
        spec(text), store, since=START, until=START + timedelta(days=1), now=NOW
    )
    html = render_report_html(report)
    parse(html)
    assert interval(report.quality.total.metric("accuracy")) in row(html, "q-accuracy")
    assert report.roi.message.split(".")[0] in html.replace("&#39;", "'")
