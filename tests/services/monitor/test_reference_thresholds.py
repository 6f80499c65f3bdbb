"""Quality thresholds derived from the reference in the monitoring report: on the churn example
with a held-out reference of 5,000 labelled customers, windows of 1,000 decisions are judged
against the AUC of the reference's own windows of 1,000 (mean - 3σ); once outcomes stop
following the risk model (concept drift) the windows fall below it and are judged ``alert`` by
the report and the alert planner alike; the JSON, the CLI table and the chart show the derived
levels; day windows of 2,000 labelled decisions leave two reference windows: no threshold, a
note."""

from __future__ import annotations

import shutil
from datetime import timedelta
from pathlib import Path

import numpy as np
from rich.console import Console
from sklearn.metrics import roc_auc_score
from tests.services.monitor.test_drift import START
from tests.services.monitor.test_estimation import DAYS, PER_DAY, decide_and_observe

from doorstep.cli.monitor_render import render_report
from doorstep.examples.churn import generate_customers
from doorstep.services.apps.loading import LoadedApp, load_app
from doorstep.services.monitor.alert_observations import observe
from doorstep.services.monitor.alert_replay import _up_to
from doorstep.services.monitor.alerts import run_monitor
from doorstep.services.monitor.drift import reference_profile
from doorstep.services.monitor.report import monitoring_report
from doorstep.services.monitor.report_html import render_report_html
from doorstep.store import Store
from doorstep.types import MonitoringReport

ALERTS = """\
  alerts:
    connectors: [callbacks]
    drift: false
    quality:
      auc: {from_reference: true, k: 3}
"""


def derived_app(template: Path, folder: Path, window: str = "day") -> LoadedApp:
    shutil.copytree(template, folder)
    fresh = generate_customers(5_000, seed=99, start_id=1_000_000)
    fresh.drop("email").write_parquet(folder / "reference.parquet")
    spec = folder / "doorstep.yaml"
    text = spec.read_text()
    text = text.replace("  window: day ", f"  window: {window} ", 1)
    spec.write_text(text.replace("  period: month", ALERTS + "  period: month", 1))
    return load_app(spec)


def report(app: LoadedApp, store: Store, window: str) -> MonitoringReport:
    profile = reference_profile(app)
    assert profile is not None and profile.labels is not None
    return monitoring_report(
        app.spec,
        store,
        window=window,
        since=START,
        until=START + timedelta(days=DAYS),
        now=START + timedelta(days=DAYS + 1),
        profile=profile,
    )


def test_windows_below_the_reference_thresholds_are_judged_alert(
    churn_app_template: Path, tmp_path: Path, store: Store
) -> None:
    app = derived_app(churn_app_template, tmp_path / "app")
    decide_and_observe(app, store, flipped=True)
    found = report(app, store, "1000rows")
    quality = found.quality
    derived = quality.derived["auc"]
    # the same computation, by hand: the model's scores of the reference's labelled rows
    assert app.reference is not None and app.reference_outcomes is not None
    scores = app.model.predict(app.reference)
    outcomes = app.reference_outcomes.to_numpy()
    aucs = np.array(
        [roc_auc_score(outcomes[i : i + 1000], scores[i : i + 1000]) for i in range(0, 5000, 1000)]
    )
    assert derived.windows == 5 and derived.size == 1000
    assert derived.mean is not None and abs(derived.mean - aucs.mean()) < 1e-9
    assert derived.std is not None and abs(derived.std - aucs.std()) < 1e-9
    limit = quality.thresholds["auc"]
    assert limit.alert is not None and abs(limit.alert - (aucs.mean() - 3 * aucs.std())) < 1e-9
    flipped_from = FLIP_WINDOW = 2 * PER_DAY // 1000
    statuses = [w.statuses["auc"] for w in quality.windows]
    assert statuses[:flipped_from] == ["ok"] * FLIP_WINDOW, statuses
    assert set(statuses[flipped_from:]) == {"alert"}, statuses
    alerts = app.spec.monitoring.alerts
    assert alerts is not None
    last = {o.subject: o for o in observe(app.spec, alerts, found)}["quality.auc"]
    assert last.status == "alert" and last.threshold == limit.alert
    first = {o.subject: o for o in observe(app.spec, alerts, _up_to(found, 0))}["quality.auc"]
    assert first.status == "ok"
    shown = found.to_dict()["quality"]["thresholds"]["auc"]
    assert shown["source"] == "reference" and shown["k"] == 3 and shown["windows"] == 5
    assert shown["alert"] == limit.alert and shown["mean"] == derived.mean
    out = Console(width=200, record=True)
    render_report(found, out)
    assert "from the reference: mean" in out.export_text()
    chart = render_report_html(found).split('id="chart-auc"')[1].split("</svg>")[0]
    assert "(reference, 3σ)" in chart


def test_too_few_reference_windows_give_a_note_and_no_threshold(
    churn_app_template: Path, tmp_path: Path, store: Store
) -> None:
    app = derived_app(churn_app_template, tmp_path / "app")
    decide_and_observe(app, store, flipped=True)
    found = report(app, store, "day")  # 2,000 labelled a day: two reference windows of 5,000
    derived = found.quality.derived["auc"]
    assert derived.size == PER_DAY and derived.windows == 2 and derived.threshold is None
    assert derived.note is not None and "insufficient reference" in derived.note
    assert "auc" not in found.quality.thresholds
    assert all(w.statuses["auc"] is None for w in found.quality.windows)
    shown = found.to_dict()["quality"]["thresholds"]["auc"]
    assert shown["alert"] is None and shown["note"] == derived.note
    alerts = app.spec.monitoring.alerts
    assert alerts is not None
    assert "quality.auc" not in {o.subject for o in observe(app.spec, alerts, found)}
    out = Console(width=200, record=True)
    render_report(found, out)
    assert "insufficient reference" in out.export_text()


def test_an_alert_run_without_drift_raises_on_the_derived_threshold(
    churn_app_template: Path, tmp_path: Path, store: Store
) -> None:
    app = derived_app(churn_app_template, tmp_path / "app", window="1000rows")
    assert app.spec.monitoring.alerts is not None and not app.spec.monitoring.alerts.drift
    decide_and_observe(app, store, flipped=True)
    result = run_monitor(
        app.spec,
        store,
        profile=reference_profile(app),
        now=START + timedelta(days=DAYS + 1),
        alert=False,
    )
    seen = {o.subject: o for o in result.observations}
    assert seen["quality.auc"].status == "alert", seen
    assert result.report is not None and result.report.drift is None  # drift stayed off
    assert result.report.quality.derived["auc"].windows == 5
