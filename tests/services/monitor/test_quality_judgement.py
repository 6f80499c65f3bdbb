"""Every quality metric of every window carries its status against the spec's thresholds, and
the alert planner judges the same window the same way (one rule, one minimum)."""

from __future__ import annotations

from pathlib import Path

from tests.services.monitor.test_report import NOW, START, simulate, spec
from tests.services.monitor.test_report_json import JUDGED

from doorstep.services.monitor.alert_observations import observe
from doorstep.services.monitor.alert_replay import _up_to
from doorstep.services.monitor.report import monitoring_report
from doorstep.store import open_store


def test_windows_are_judged_as_the_alert_planner_judges_them(tmp_path: Path) -> None:
    judged = spec(JUDGED)
    assert judged.monitoring.alerts is not None
    with open_store(f"sqlite:///{tmp_path / 'q.db'}") as store:
        simulate(store, 600, seed=7)
        report = monitoring_report(judged, store, since=START, until=NOW, now=NOW)
    quality = report.quality
    assert quality.min_labelled == 50 and set(quality.thresholds) == {"auc", "brier"} | {
        "override_rate"
    }
    seen = set()
    for index, window in enumerate(quality.windows):
        labelled = window.quality.labelled
        for name, status in window.statuses.items():
            if labelled < 50:
                assert status == "insufficient_data", (window.start, name)
            elif name not in quality.thresholds:
                assert status is None, name  # no threshold: not judged, not "ok"
        if window.status is None:
            continue
        seen.add(window.status)
        planned = {o.subject: o.status for o in observe(judged, judged.monitoring.alerts,
                                                        _up_to(report, index))}  # fmt: skip
        assert planned["quality.auc"] == window.statuses["auc"]
        assert planned["quality.brier"] == window.statuses["brier"]
    assert {"ok", "warn", "alert", "insufficient_data"} <= seen
    assert quality.status == "alert"
    assert quality.to_dict()["windows"][0]["auc"]["status"] == quality.windows[0].statuses["auc"]


def test_without_thresholds_nothing_is_judged_but_sparse_windows_say_so(tmp_path: Path) -> None:
    with open_store(f"sqlite:///{tmp_path / 'q.db'}") as store:
        simulate(store, 600, seed=7)
        report = monitoring_report(spec(), store, since=START, until=NOW, now=NOW)
    quality = report.quality
    assert quality.status is None and quality.thresholds == {}
    assert all(w.status is None for w in quality.windows)
    empty = quality.windows[-1]  # no decisions after the tenth day
    assert empty.quality.labelled == 0
    assert set(empty.statuses.values()) == {"insufficient_data"}
