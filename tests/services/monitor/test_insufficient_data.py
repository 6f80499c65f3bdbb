"""Not enough data is a state of its own, never ``ok``: every place that makes one status of
several (a window of its features, a range of its windows, attention of its features, an alert
run of its subjects, the ``monitor.run`` audit event) gives ``insufficient_data`` when nothing
was measured, lets what was measured decide otherwise (in any order), and every reader (the
HTML report's tile and drift section, the dashboard's panel) shows it so. The CLI's readers are
tested in ``tests/cli/test_drift_render.py``."""

from __future__ import annotations

import json
import re
from dataclasses import replace
from datetime import timedelta

import numpy as np
import polars as pl
import pytest
import sqlalchemy as sa
from tests.services.monitor.test_report import NOW, START, spec

from doorstep.core.stats.drift import DriftThresholds, build_profile, compare
from doorstep.core.stats.drift_report import AttributionDrift, ColumnDrift, worst_status
from doorstep.services.monitor.alert_messages import Observation
from doorstep.services.monitor.alerts import MonitorResult, run_monitor
from doorstep.services.monitor.report import monitoring_report
from doorstep.services.monitor.report_html import render_report_html, render_report_panel
from doorstep.store import Store
from doorstep.store.tables import audit_events
from doorstep.types import (
    AttributionSetup,
    AttributionSummary,
    DriftReport,
    DriftSection,
    DriftWindow,
    MonitoringReport,
    Status,
)

INSUFFICIENT: Status = "insufficient_data"

# statuses of the parts, in order, and the one status they make
CASES: list[tuple[list[Status], Status]] = [
    ([], INSUFFICIENT),
    ([INSUFFICIENT], INSUFFICIENT),
    ([INSUFFICIENT, INSUFFICIENT, INSUFFICIENT], INSUFFICIENT),
    ([INSUFFICIENT, "ok"], "ok"),
    (["ok", INSUFFICIENT], "ok"),
    ([INSUFFICIENT, "warn", "ok"], "warn"),
    (["alert", INSUFFICIENT, "warn"], "alert"),
    ([INSUFFICIENT, "ok", "alert"], "alert"),
    (["ok", "ok"], "ok"),
]
IDS = ["+".join(parts) or "nothing" for parts, _ in CASES]


@pytest.mark.parametrize(("parts", "whole"), CASES, ids=IDS)
def test_the_worst_status_is_the_worst_measured(parts: list[Status], whole: Status) -> None:
    assert worst_status(parts) == whole
    assert worst_status(reversed(parts)) == whole  # never the order of the parts


def column(name: str, status: Status) -> ColumnDrift:
    return ColumnDrift(name, "numeric", 10, 10, 0.0, 0.0, status=status)


def window(day: int, statuses: list[Status] | None, rows: int = 10) -> DriftWindow:
    """A day's window whose features have ``statuses`` (``None``: no decisions)."""
    start = START + timedelta(days=day)
    if statuses is None:
        return DriftWindow(start, start + timedelta(days=1), None)
    features = tuple(column(f"f{i}", s) for i, s in enumerate(statuses))
    status = worst_status(statuses)
    return DriftWindow(
        start, start + timedelta(days=1), DriftReport(rows, features, None, (), None, status)
    )


def section(*windows: DriftWindow) -> DriftSection:
    return DriftSection(
        features={"f0": "numeric"},
        reference_rows=5_000,
        thresholds=DriftThresholds(),
        attribution=AttributionSetup(0, 0, None, None),
        windows=windows,
    )


@pytest.mark.parametrize(("parts", "whole"), CASES, ids=IDS)
def test_a_range_is_as_bad_as_its_worst_window_measured(parts: list[Status], whole: Status) -> None:
    windows = [window(day, [status]) for day, status in enumerate(parts)]
    assert section(*windows).status == whole
    # windows without decisions measure nothing either
    assert section(window(len(parts), None), *windows, window(99, None)).status == whole
    assert section(*windows).to_dict()["status"] == whole


@pytest.mark.parametrize(("parts", "whole"), CASES, ids=IDS)
def test_attention_is_as_bad_as_its_worst_feature_measured(
    parts: list[Status], whole: Status
) -> None:
    shares = tuple(
        AttributionDrift(f"f{i}", 1.0, 1.0, 0.5, 0.5, 0.0, status) for i, status in enumerate(parts)
    )
    assert AttributionSummary(shares, None).status == whole


@pytest.mark.parametrize(("parts", "whole"), CASES, ids=IDS)
def test_an_alert_run_is_as_bad_as_its_worst_subject_judged(
    parts: list[Status], whole: Status
) -> None:
    observations = [observation(f"drift.f{i}", s) for i, s in enumerate(parts)]
    result = MonitorResult("churn", "day", START, NOW, observations, [], {})
    assert result.status == whole
    assert result.as_dict()["status"] == whole
    assert result.exit_code == {"warn": 3, "alert": 4}.get(whole, 0)


def observation(subject: str, status: Status) -> Observation:
    return Observation(
        subject, "drift", subject[6:], subject, status, "psi", None, 0.25, (), "day", START,
        NOW, 0, 0,
    )  # fmt: skip


def test_a_window_with_too_few_rows_for_every_feature_measures_nothing() -> None:
    rng = np.random.default_rng(3)
    reference = pl.DataFrame({"a": rng.normal(0, 1, 5_000), "b": rng.normal(0, 1, 5_000)})
    profile = build_profile(reference)
    small = compare(profile, reference.head(200))
    assert [c.status for c in small.features] == [INSUFFICIENT, INSUFFICIENT]
    assert small.status == INSUFFICIENT
    assert compare(build_profile(reference.select()), reference.select()).status == INSUFFICIENT


@pytest.mark.parametrize("first", ["gone", "flat"])
def test_a_window_is_as_bad_as_its_features_measured_in_any_order(first: str) -> None:
    n = 2_000
    reference = pl.DataFrame(
        {"gone": pl.Series([None] * n, dtype=pl.Float64), "flat": np.full(n, 3.0)}
    )
    order = [first, *({"gone", "flat"} - {first})]
    profile = build_profile(reference.select(order))
    report = compare(profile, pl.DataFrame({"gone": np.ones(n), "flat": np.full(n, 3.0)}))
    assert {c.name: c.status for c in report.features} == {"gone": INSUFFICIENT, "flat": "ok"}
    assert report.status == "ok"


# --- readers ---------------------------------------------------------------------------------


@pytest.fixture
def empty(store: Store) -> MonitoringReport:
    return monitoring_report(spec(), store, since=START, until=START + timedelta(days=7), now=NOW)


def drift_status(html: str, element_id: str) -> tuple[str, str]:
    found = re.search(
        rf'<span class="status status-([a-z_]+)" id="{element_id}">([^<]*)</span>', html
    )
    assert found is not None, element_id
    return found.group(1), found.group(2).strip()


def tile(html: str) -> str:
    found = re.search(r'<div class="tile" id="tile-drift">(.*?)</div>', html, re.S)
    assert found is not None
    return re.sub(r"<[^>]+>", " ", found.group(1))


def test_a_fresh_app_with_no_decisions_shows_no_drift_status(empty: MonitoringReport) -> None:
    report = replace(empty, drift=section(*(window(day, None) for day in range(7))))
    assert report.drift is not None and report.drift.status == INSUFFICIENT
    html = render_report_html(report)
    assert drift_status(html, "drift-status") == (INSUFFICIENT, "… too few rows")
    assert "too few rows" in tile(html) and "ok" not in tile(html)
    assert json.loads(json.dumps(report.to_dict()))["drift"]["status"] == INSUFFICIENT
    panel = render_report_panel(report)
    assert "No decisions in the range." in panel and "status-ok" not in panel


def test_readers_show_a_range_with_too_few_rows_everywhere_as_such(
    empty: MonitoringReport,
) -> None:
    windows = [window(day, [INSUFFICIENT, INSUFFICIENT], rows=40) for day in range(3)]
    report = replace(empty, drift=section(*windows, window(3, None)))
    html = render_report_html(report)
    assert drift_status(html, "drift-status") == (INSUFFICIENT, "… too few rows")
    assert "no window had the 1000 rows a status needs" in html
    assert "too few rows" in tile(html)
    panel = render_report_panel(report)
    assert drift_status(panel, "panel-drift-status") == (INSUFFICIENT, "… too few rows")
    assert "no window had the 1000 rows a status needs" in panel
    assert 'data-status="ok"' not in panel


def test_readers_say_how_many_windows_a_mixed_status_rests_on(empty: MonitoringReport) -> None:
    windows = [window(0, ["ok"]), window(1, [INSUFFICIENT]), window(2, ["warn", INSUFFICIENT])]
    report = replace(empty, drift=section(*windows))
    html = render_report_html(report)
    assert drift_status(html, "drift-status") == ("warn", "▲ warn")
    assert "2 of 3 windows with decisions measured; 1 with too few rows" in html
    assert "(1 with too few rows)" in tile(html)
    panel = render_report_panel(report)
    assert drift_status(panel, "panel-drift-status") == ("warn", "▲ warn")
    assert "2 of 3 windows with decisions measured; 1 with too few rows" in panel
    steady = replace(empty, drift=section(window(0, ["ok"]), window(1, ["ok"])))
    assert "windows with decisions measured" not in render_report_html(steady)


ALERTS_SPEC = """\
app: {name: churn, owner: maria@example.com}
model: {path: model.lgb.txt, task: binary, positive_class: 1}
inputs:
  id: customer_id
  fields:
    tenure_months: {type: int, min: 0}
connectors:
  ops_log: {type: file, path: alerts.jsonl}
monitoring:
  window: day
  outcome: {horizon: 30d, field: churned}
  alerts:
    connectors: [ops_log]
    quality: {auc: {alert: 0.6}, brier: {alert: 0.3}}
"""


def test_an_alert_run_with_nothing_to_judge_is_audited_as_such(store: Store) -> None:
    result = run_monitor(spec(ALERTS_SPEC), store, now=NOW)
    assert [o.status for o in result.observations] == [INSUFFICIENT, INSUFFICIENT]
    assert result.status == INSUFFICIENT and result.exit_code == 0
    assert result.transitions == []
    with store.engine.connect() as conn:
        query = sa.select(audit_events.c.payload).where(audit_events.c.kind == "monitor.run")
        runs = list(conn.execute(query).scalars())
    assert [run["status"] for run in runs] == [INSUFFICIENT]
    assert runs[0]["counts"] == {INSUFFICIENT: 2}


def test_the_alert_planner_concludes_nothing_from_a_subject_with_too_few_rows() -> None:
    from tests.services.monitor.test_alert_plan import plan, state

    from doorstep.core.spec.alerts import AlertsSpec

    alerts = AlertsSpec(connectors=["ops"], level="warn")
    open_breach = {"drift.f0": state("alert", subject="drift.f0")}
    mixed = [observation("drift.f0", INSUFFICIENT), observation("drift.f1", "alert")]
    found = plan(alerts, mixed, open_breach)
    assert [(t.event, t.subject) for t in found] == [("alert.raised", "drift.f1")]
    # too few rows neither raises nor resolves, whatever stands beside it
    assert plan(alerts, [observation("drift.f0", INSUFFICIENT)], open_breach) == []
    assert plan(alerts, [observation("drift.f0", INSUFFICIENT)], {}) == []
