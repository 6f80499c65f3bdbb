"""The dashboard's monitoring panel in-process: a fragment the dashboard fetches after it loads
(the dashboard computes no report), showing the numbers of the monitoring report object for a
store with decisions, outcomes and drift, drifted features as alerts, open alerts from the
store; a client key is refused, and the report is computed once per minute, not per load."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import aclosing
from datetime import UTC, datetime, timedelta
from typing import Any

import anyio
import httpx
import pytest
from tests.services.monitor.test_alert_plan import quality_report
from tests.services.monitor.test_drift import DAYS, DRIFTED, DRIFTED_ROWS
from tests.services.monitor.test_report_html import interval, parse, row
from tests.web.pages.conftest import Site, session_client
from tests.web.pages.test_report_browser import START, decide_and_observe

from doorstep.services.apps.registry import Registry
from doorstep.services.monitor.alerts import open_alerts
from doorstep.services.monitor.drift import drift_thresholds, reference_profile
from doorstep.services.monitor.report import monitoring_report
from doorstep.store import open_store
from doorstep.store.alerts import AlertTransition
from doorstep.types import DriftWindow, MonitoringReport, QualityMetric, QualityReport, RoiReport
from doorstep.web import ServeSettings, create_app
from doorstep.web.pages.monitoring_panel import PanelReports
from doorstep.web.pages.templating import CSP

pytestmark = pytest.mark.anyio

RANGE = {
    "window": "day",
    "since": START.isoformat(),
    "until": (START + timedelta(days=DAYS)).isoformat(),
}
OPENED = datetime(2025, 3, 8, 1, tzinfo=UTC)


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="module")
def observed(
    registry: Registry, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Site, MonitoringReport]]:
    """Six days of the churn app's decisions (two features drifted from the fourth), outcomes,
    overrides, two open alerts and one resolved; and the report object for those six days."""
    folder = tmp_path_factory.mktemp("panel")
    store = open_store(f"sqlite:///{folder / 'doorstep.db'}")
    app = registry.get("churn")
    decide_and_observe(app, store)
    states = [
        ("drift.monthly_spend", "alert", "b-1", 0.61, 0.25),
        ("quality.auc", "warn", "b-2", 0.64, 0.7),
        ("drift.plan", "ok", None, 0.01, None),
    ]
    store.apply_alert_transitions(
        [
            AlertTransition(
                app="churn",
                subject=subject,
                kind=subject.split(".")[0],
                expected_version=None,
                values={
                    "status": status,
                    "breach_id": breach,
                    "opened_at": OPENED if breach else None,
                    "value": value,
                    "threshold": threshold,
                },
                event="alert.raised",
                payload={},
            )
            for subject, status, breach, value, threshold in states
        ],
        None,
        actor="test",
    )
    report = monitoring_report(
        app.spec,
        store,
        window="day",
        since=START,
        until=START + timedelta(days=DAYS),
        profile=reference_profile(app),
        thresholds=drift_thresholds(app.spec),
    )
    keys = {
        role: store.create_key(f"{role}-1", role, actor="test")[1] for role in ("viewer", "client")
    }
    settings = ServeSettings(home=str(folder), deliver=False)
    try:
        yield Site("http://testserver", store, keys, create_app(registry, store, settings)), report
    finally:
        store.close()


def latest_labelled(report: MonitoringReport) -> QualityReport:
    return [w for w in report.quality.windows if w.quality.labelled][-1].quality


def latest_drift(report: MonitoringReport) -> DriftWindow:
    assert report.drift is not None and report.drift.latest is not None
    return report.drift.latest


@pytest.mark.slow
async def test_the_panel_shows_the_report_objects_numbers(
    observed: tuple[Site, MonitoringReport],
) -> None:
    site, report = observed
    client, _ = await session_client(site, "viewer")
    async with aclosing(client):
        answer = await client.get("/apps/churn/monitoring-panel", params=RANGE)
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-security-policy"] == CSP
    assert answer.headers["cache-control"] == "no-store"
    html = answer.text
    checked = parse(html)
    assert "<html" not in html and "<script" not in html  # a fragment, no script

    latest, total = latest_labelled(report), report.quality.total
    keys: tuple[QualityMetric, ...] = ("auc", "brier")
    for key in keys:
        cells = row(html, f"panel-q-{key}")
        assert interval(latest.metric(key)) in cells and interval(total.metric(key)) in cells, key
    labelled = row(html, "panel-q-labelled")
    assert str(latest.labelled) in labelled and str(total.labelled) in labelled
    assert {"chart-auc", "chart-auc-t", "chart-auc-d"} <= checked.ids
    svg = re.search(r'<svg class="chart" id="chart-auc".*?</svg>', html, re.S)
    assert svg is not None and "<polygon" in svg.group(0)  # the interval band

    roi = report.roi
    assert isinstance(roi, RoiReport)
    message = re.search(r'id="panel-roi-message">(.*?)</p>', html, re.S)
    assert message is not None
    assert roi.message in message.group(1).replace("&#39;", "'")
    assert interval(roi.uplift, 1, 100) in row(html, "panel-roi-uplift")
    assert interval(roi.value, 0) in row(html, "panel-roi-value")
    assert "chart-roi" in checked.ids

    drift = latest_drift(report)
    expected = {f.name: f.status for f in drift.features}
    assert drift.score is not None
    expected["score"] = drift.score.status
    table = re.search(r'<table class="heat" id="panel-drift-table">(.*?)</table>', html, re.S)
    assert table is not None
    shown = dict(re.findall(r'<tr data-feature="([^"]+)" data-status="([^"]+)"', table.group(1)))
    assert shown == expected
    alerted = [n for n in shown if shown[n] == "alert"]
    assert list(shown)[: len(DRIFTED_ROWS)] == alerted  # worst first


@pytest.mark.slow
async def test_drifted_features_show_alert_with_a_mark_and_a_word(
    observed: tuple[Site, MonitoringReport],
) -> None:
    site, report = observed
    client, _ = await session_client(site, "viewer")
    async with aclosing(client):
        html = (await client.get("/apps/churn/monitoring-panel", params=RANGE)).text
    alerted = set(re.findall(r'<tr data-feature="([^"]+)" data-status="alert"', html))
    assert alerted == DRIFTED_ROWS
    features = {f.name: f for f in latest_drift(report).features}
    for name in DRIFTED:
        cells = re.search(rf'<tr data-feature="{name}" data-status="alert">(.*?)</tr>', html, re.S)
        assert cells is not None and "✖ alert" in cells.group(1)
        assert f"{features[name].psi:.2f}" in cells.group(1)
    assert 'id="panel-drift-status">✖ alert' in html
    # open alerts from the store: subject, status and since; a resolved subject is not shown
    assert [a.subject for a in open_alerts(site.store.alert_states("churn"))] == [
        "drift.monthly_spend",
        "quality.auc",
    ]
    alerts = re.search(r'<table id="panel-alerts">(.*?)</table>', html, re.S)
    assert alerts is not None
    spend = re.search(r'data-subject="drift.monthly_spend" data-status="alert">(.*?)</tr>', html)
    assert spend is not None and "✖ alert" in spend.group(1)
    assert "2025-03-08 01:00 UTC" in spend.group(1) and "0.610 (0.250)" in spend.group(1)
    assert 'data-subject="quality.auc" data-status="warn"' in alerts.group(1)
    assert "drift.plan" not in alerts.group(1)


@pytest.mark.slow
async def test_the_dashboard_fetches_the_panel_and_computes_no_report(
    observed: tuple[Site, MonitoringReport], monkeypatch: pytest.MonkeyPatch
) -> None:
    site, _ = observed

    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("the dashboard computed a monitoring report")

    monkeypatch.setattr("doorstep.web.pages.report_page.monitoring_report", refuse)
    client, _ = await session_client(site, "viewer")
    async with aclosing(client):
        board = await client.get("/apps/churn")
    assert board.status_code == 200
    panel = re.search(r'<section class="panel monitoring" id="monitoring"[^>]*>', board.text)
    assert panel is not None
    assert 'hx-get="/apps/churn/monitoring-panel"' in panel.group(0)
    assert 'hx-trigger="load"' in panel.group(0) and 'hx-swap="outerHTML"' in panel.group(0)
    assert 'href="/apps/churn/report" hx-boost="false">monitoring report</a>' in board.text


@pytest.mark.slow
async def test_a_client_key_is_refused(observed: tuple[Site, MonitoringReport]) -> None:
    site, _ = observed
    transport = httpx.ASGITransport(app=site.app)
    headers = {"Authorization": f"Bearer {site.keys['client']}"}
    async with httpx.AsyncClient(
        transport=transport, base_url="http://testserver", headers=headers
    ) as client:
        answer = await client.get("/apps/churn/monitoring-panel")
        assert answer.status_code == 303  # pages take no bearer key: sign in first
        assert answer.headers["location"].startswith("/sign-in")
        form = await client.get("/sign-in")
        token = re.search(r'name="csrf_token" value="([^"]+)"', form.text)
        assert token is not None
        refused = await client.post(
            "/sign-in", data={"csrf_token": token.group(1), "key": site.keys["client"]}
        )
        assert refused.status_code == 403 and "for systems, not people" in refused.text
        again = await client.get("/apps/churn/monitoring-panel")
        assert again.status_code == 303 and "monitoring" not in again.text


async def test_reports_are_kept_for_the_ttl_and_computed_once_at_a_time() -> None:
    calls: list[int] = []

    def build() -> MonitoringReport:
        calls.append(1)
        anyio.from_thread.run(anyio.sleep, 0.05)  # slow, as a report is
        return quality_report(labelled=len(calls), reviewed=0, overridden=0)

    def n(report: MonitoringReport) -> int:
        return report.quality.total.labelled  # which computation made it

    reports = PanelReports(ttl=60)
    results: list[MonitoringReport] = []

    async def load() -> None:
        results.append(await reports.get(("churn", "v1"), build))

    async with anyio.create_task_group() as group:
        for _ in range(5):
            group.start_soon(load)
    assert calls == [1] and [n(r) for r in results] == [1] * 5  # five dashboards, one computation
    assert n(await reports.get(("churn", "v2"), build)) == 2  # another model version
    expired = PanelReports(ttl=0)
    assert n(await expired.get(("churn", "v1"), build)) == 3
    assert n(await expired.get(("churn", "v1"), build)) == 4
