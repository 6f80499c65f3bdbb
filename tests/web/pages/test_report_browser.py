"""The HTML monitoring report in a real browser: opened from disk (``file://``) it requests
nothing but itself, logs no error, its inline style passes its own Content-Security-Policy, and
its charts are drawn. Six days of the churn example's decisions with drift injected from the
fourth day, outcomes drawn from the scores, and some overrides."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pytest
from tests.services.monitor.test_drift import DAYS, DRIFTED_ROWS, PER_DAY, SHIFT_DAY, drifted

from doorstep.examples.churn import generate_customers
from doorstep.ids import new_id
from doorstep.services.apps.loading import LoadedApp
from doorstep.services.monitor.drift import drift_thresholds, reference_profile
from doorstep.services.monitor.report import monitoring_report
from doorstep.services.monitor.report_html import render_report_html
from doorstep.services.outcomes.ingest import record_outcomes
from doorstep.store import RecordRequest, StoreContract, open_store
from doorstep.types import Decision, DecisionStatus

SHOTS = os.environ.get("DOORSTEP_SCREENSHOTS_DIR")
"""When set (``scripts/screenshots``), the screenshots go there (the docs' images)."""
START = datetime(2025, 3, 3, tzinfo=UTC)
NOW = START + timedelta(days=DAYS + 30)


def decide_and_observe(app: LoadedApp, store: StoreContract) -> None:
    """Decisions day by day (drift from noon of SHIFT_DAY), the policy's action above 0.5 with
    a 20% control group, some verdicts, and outcomes drawn from the score (treated: 30% less)."""
    fields = list(app.spec.feature_fields)
    rng = np.random.default_rng(5)
    outcomes: list[dict[str, Any]] = []
    for day in range(DAYS):
        customers = generate_customers(PER_DAY, seed=200 + day, start_id=1 + day * PER_DAY)
        created = [
            START + timedelta(days=day, minutes=int(m))
            for m in np.sort(rng.integers(0, 24 * 60, PER_DAY))
        ]
        late = pl.Series([c >= START + timedelta(days=SHIFT_DAY, hours=12) for c in created])
        customers = pl.concat([customers.filter(~late), drifted(customers.filter(late))])
        scores = app.model.predict(customers.select(fields))
        records = []
        for i, row in enumerate(customers.select(["customer_id", *fields]).to_dicts()):
            entity = str(row.pop("customer_id"))
            acting = scores[i] >= 0.35
            control = bool(acting and rng.random() < 0.2)
            verdict = rng.random() if acting and not control else 1.0
            status, final = "decided", None
            if verdict < 0.1:
                status, final = "overridden", "none"
            elif verdict < 0.3:
                status, final = "approved", "retention_offer"
            records.append(
                Decision(
                    id=new_id(),
                    app="churn",
                    entity_id=entity,
                    model_version=app.model_version,
                    model_hash="ab" * 32,
                    inputs=row,
                    score=float(scores[i]),
                    action="retention_offer" if acting else "none",
                    rule="rule 1" if acting else None,
                    review=status != "decided",
                    control=control,
                    status=DecisionStatus.HELD_OUT if control else DecisionStatus(status),
                    reasons=None,
                    reasons_text=None,
                    created_at=created[i],
                    final_action=final,
                )
            )
            treated = acting and not control and status != "overridden"
            churned = rng.random() < scores[i] * (0.7 if treated else 1.0)
            observed = created[i] + timedelta(days=20)
            outcomes.append(
                {"decision_id": records[-1].id, "churned": int(churned), "observed_at": observed}
            )
        store.record([RecordRequest(records)], actor="test")
    for start in range(0, len(outcomes), 5_000):
        chunk = [{**o, "observed_at": o["observed_at"].isoformat()} for o in outcomes[start:]]
        result, errors = record_outcomes(app.spec, store, chunk[:5_000], actor="test", now=NOW)
        assert errors == []


@pytest.fixture(scope="module")
def report_file(churn_loaded_app: LoadedApp, tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("report")
    app = churn_loaded_app
    with open_store(f"sqlite:///{folder / 'doorstep.db'}") as store:
        decide_and_observe(app, store)
        report = monitoring_report(
            app.spec,
            store,
            window="day",
            since=START,
            until=START + timedelta(days=DAYS),
            now=NOW,
            profile=reference_profile(app),
            thresholds=drift_thresholds(app.spec),
        )
    assert report.drift is not None and report.drift.status == "alert"
    assert report.overrides.overridden > 0
    path = folder / "report.html"
    path.write_text(render_report_html(report, owner=app.spec.app.owner), encoding="utf-8")
    return path


@pytest.mark.slow
def test_the_report_opens_offline_and_draws_its_charts(browser: Any, report_file: Path) -> None:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    tab = context.new_page()
    problems: list[str] = []
    requests: list[str] = []
    tab.on("pageerror", lambda exc: problems.append(str(exc)))
    tab.on("console", lambda m: problems.append(m.text))  # CSP refusals are logged here
    tab.on("request", lambda r: requests.append(r.url))
    try:
        tab.goto(report_file.as_uri())
        tab.wait_for_load_state("load")
        assert requests == [report_file.as_uri()]  # nothing but the file itself
        assert problems == []
        # the inline style applied (its hash matches the file's own CSP)
        colour = tab.eval_on_selector(
            "#drift-latest .status-alert", "e => getComputedStyle(e).backgroundColor"
        )
        assert colour == "rgb(255, 216, 211)"
        charts = tab.eval_on_selector_all(
            "svg.chart",
            "els => els.map(e => [e.id, e.getBoundingClientRect().width,"
            " e.querySelectorAll('circle, rect, polygon, polyline').length])",
        )
        drawn = {name: (width, marks) for name, width, marks in charts}
        for name in ("chart-auc", "chart-pr", "chart-brier", "chart-labelled", "chart-overrides",
                     "chart-roi", "chart-score-psi"):  # fmt: skip
            width, marks = drawn[name]
            assert width > 300 and marks >= 3, (name, width, marks)
        alerted = tab.eval_on_selector_all(
            "#drift-latest tr[data-status=alert]", "rows => rows.map(r => r.dataset.feature)"
        )
        assert set(alerted) == DRIFTED_ROWS
        if SHOTS:
            folder = Path(SHOTS)
            tab.screenshot(path=str(folder / "report-top.png"), full_page=False)
            tab.locator("#drift-over-time").screenshot(path=str(folder / "report-drift.png"))
    finally:
        context.close()
