"""Reports in months (of the app's time zone) and in windows of N decisions: every decision in
exactly one window, windows of rows holding N decisions each and the same decisions whatever
the range, alerts judging the latest complete window of rows. On SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from tests.services.monitor.test_report import NOW, SPEC, simulate, spec

from doorstep.services.monitor.ranges import alert_range, resolve_range
from doorstep.services.monitor.report import monitoring_report
from doorstep.store import Store


def test_month_windows_follow_the_app_time_zone(store: Store) -> None:
    simulate(store, 600, seed=5)  # ten days from 1 March 2025
    text = SPEC.replace("  window: day\n", "  window: month\n  timezone: America/New_York\n")
    report = monitoring_report(spec(text), store, periods=3, now=NOW)
    assert report.window == "month"
    starts = [w.start for w in report.quality.windows]
    # 1 February, 1 March, 1 April 2025 at midnight in New York (EST, then EDT)
    assert starts == [
        datetime(2025, 2, 1, 5, tzinfo=UTC),
        datetime(2025, 3, 1, 5, tzinfo=UTC),
        datetime(2025, 4, 1, 4, tzinfo=UTC),
    ]
    # decisions of 1 March before 05:00 UTC are February's in New York
    feb, mar, apr = (w.quality.labelled for w in report.quality.windows)
    assert feb + mar == 600 and feb > 0 and apr == 0


def test_windows_of_rows_hold_that_many_decisions(store: Store) -> None:
    simulate(store, 1_050, seed=6)
    text = SPEC.replace("  window: day\n", "  window: 200rows\n")
    report = monitoring_report(spec(text), store, now=NOW)
    assert report.window == "200rows"
    labelled = [w.quality.labelled for w in report.quality.windows]
    assert labelled == [200, 200, 200, 200, 200, 50]  # every decision is labelled here
    ends = [w.end for w in report.quality.windows]
    assert ends[:-1] == [w.start for w in report.quality.windows[1:]]
    # the same windows from a later start: the windows of rows do not move
    later = monitoring_report(
        spec(text), store, since=report.quality.windows[2].start + timedelta(seconds=1), now=NOW
    )
    assert [w.start for w in later.quality.windows] == [w.start for w in report.quality.windows[2:]]
    assert [w.quality.labelled for w in later.quality.windows] == labelled[2:]
    assert report.drift is None  # no reference profile given


def test_alerts_judge_the_latest_complete_window_of_rows(store: Store) -> None:
    simulate(store, 1_050, seed=7)
    app = spec(SPEC.replace("  window: day\n", "  window: 200rows\n"))
    span, start, end = alert_range(app, store, now=NOW, include_current=False, periods=2)
    full = resolve_range(app, store, None, None, None, None, NOW)
    assert (start, end) == (full.edges[-3], full.edges[-2])  # the last 200, not the 50 filling
    assert span.count == 2
    current = alert_range(app, store, now=NOW, include_current=True, periods=1)
    assert current[1:] == (full.edges[-2], full.edges[-1])


def test_no_decisions_give_one_empty_window_of_rows(store: Store) -> None:
    app = spec(SPEC.replace("  window: day\n", "  window: 500rows\n"))
    report = monitoring_report(app, store, now=NOW)
    assert len(report.quality.windows) == 1 and report.quality.windows[0].quality.labelled == 0
    assert report.quality.windows[0].status != "ok"


@pytest.mark.parametrize("window", ["month", "5000rows"])
def test_the_spec_accepts_the_new_windows(window: str) -> None:
    assert (
        spec(SPEC.replace("  window: day\n", f"  window: {window}\n")).monitoring.window == window
    )


def test_the_time_zone_must_exist() -> None:
    from doorstep.errors import SpecError

    with pytest.raises(SpecError, match="timezone"):
        spec(SPEC.replace("  window: day\n", "  window: day\n  timezone: Mars/Olympus\n"))
