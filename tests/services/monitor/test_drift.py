"""Drift in the monitoring report, on a real store: the churn example's customers decided day by
day, with drift injected into two features from a known day. The report flags exactly those two
in the first full window after the shift, and nothing before it. On SQLite and PostgreSQL."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pytest
from rich.console import Console

from doorstep.cli.drift_render import render_drift
from doorstep.core.spec.alerts import AlertsSpec
from doorstep.core.stats.drift import ReferenceProfile
from doorstep.examples.churn import generate_customers
from doorstep.ids import new_id
from doorstep.services.apps.loading import LoadedApp, load_app
from doorstep.services.monitor.alert_observations import observe
from doorstep.services.monitor.attribution import HashSample
from doorstep.services.monitor.drift import (
    ProfileCache,
    drift_features,
    profile_key,
    reference_profile,
)
from doorstep.services.monitor.report import monitoring_report
from doorstep.services.monitor.report_html import render_report_html
from doorstep.store import RecordRequest, Store
from doorstep.types import (
    AttributionSetup,
    Decision,
    DecisionStatus,
    DriftSection,
    MonitoringReport,
)

START = datetime(2025, 3, 3, tzinfo=UTC)
DAYS = 6
SHIFT_DAY = 3
"""Drift starts at 12:00 on this day: the first full window after it is the next day."""
PER_DAY = 1_500
DRIFTED = {"monthly_spend", "days_since_last_login"}
DRIFTED_ROWS = DRIFTED | {"score"}
"""The rows of a drift table on alert after the shift: the two features and the score they move."""


def drifted(customers: pl.DataFrame) -> pl.DataFrame:
    """Spend up by half (a price rise) and logins ten days staler (an outage of the app)."""
    return customers.with_columns(
        (pl.col("monthly_spend") * 1.5).round(2),
        pl.col("days_since_last_login") + 10,
    )


def decide_days(
    app: LoadedApp, store: Store, drift: Callable[[pl.DataFrame], pl.DataFrame] = drifted
) -> None:
    fields = list(app.spec.feature_fields)
    rng = np.random.default_rng(3)
    for day in range(DAYS):
        customers = generate_customers(PER_DAY, seed=100 + day, start_id=1 + day * PER_DAY)
        minutes = np.sort(rng.integers(0, 24 * 60, PER_DAY))
        created = [START + timedelta(days=day, minutes=int(m)) for m in minutes]
        shift = START + timedelta(days=SHIFT_DAY, hours=12)
        late = pl.Series([c >= shift for c in created])
        customers = pl.concat([customers.filter(~late), drift(customers.filter(late))])
        scores = app.model.predict(customers.select(fields))
        rows = customers.select(["customer_id", *fields]).to_dicts()
        records = [
            Decision(
                id=new_id(),
                app="churn",
                entity_id=str(row.pop("customer_id")),
                model_version=app.model_version,
                model_hash="ab" * 32,
                inputs=row,
                score=float(scores[i]),
                action="none",
                rule=None,
                review=False,
                control=False,
                status=DecisionStatus.DECIDED,
                reasons=None,
                reasons_text=None,
                created_at=created[i],
            )
            for i, row in enumerate(rows)
        ]
        store.record([RecordRequest(records)], actor="test")


@pytest.fixture
def churn(churn_loaded_app: LoadedApp) -> LoadedApp:
    return churn_loaded_app


def report(app: LoadedApp, store: Store, profile: ReferenceProfile, **kw: Any) -> MonitoringReport:
    return monitoring_report(
        app.spec,
        store,
        window="day",
        since=START,
        until=START + timedelta(days=DAYS),
        now=START + timedelta(days=DAYS + 1),
        profile=profile,
        **kw,
    )


def drift_of(found: MonitoringReport) -> DriftSection:
    assert found.drift is not None
    return found.drift


@pytest.mark.slow
def test_drift_flags_the_two_drifted_features_from_the_first_full_window(
    churn: LoadedApp, store: Store
) -> None:
    decide_days(churn, store)
    profile = reference_profile(churn)
    assert profile is not None and profile.score is not None
    drift = drift_of(report(churn, store, profile, chunk_rows=700))  # pages cross windows

    days = drift.windows
    assert [d.rows for d in days] == [PER_DAY] * DAYS
    for day in days[:SHIFT_DAY]:
        assert day.flagged == [], day
        assert day.status == "ok"
    assert set(days[SHIFT_DAY + 1].flagged) == DRIFTED
    assert set(days[SHIFT_DAY + 1].alerted) == DRIFTED
    assert set(days[-1].flagged) == DRIFTED
    spend = days[SHIFT_DAY + 1].column("monthly_spend")
    assert spend is not None and spend.psi is not None
    assert spend.status == "alert" and spend.psi >= 0.25
    before = days[0].column("monthly_spend")
    assert before is not None and before.psi is not None and before.psi < 0.1
    latest = drift.latest
    assert latest is not None and latest.start == days[-1].start
    assert {f.name for f in latest.features} == set(drift_features(churn.spec))
    assert latest.score is not None and latest.score.name == "score"
    assert latest.score.status == "alert"  # the two shifted features move the score too
    assert drift.status == "alert"


@pytest.mark.slow
def test_windows_from_one_pass_equal_each_window_alone(churn: LoadedApp, store: Store) -> None:
    decide_days(churn, store)
    profile = reference_profile(churn)
    assert profile is not None
    whole = drift_of(report(churn, store, profile)).windows
    one = drift_of(
        monitoring_report(
            churn.spec,
            store,
            window="day",
            since=START + timedelta(days=SHIFT_DAY + 1),
            until=START + timedelta(days=SHIFT_DAY + 2),
            now=START + timedelta(days=DAYS + 1),
            profile=profile,
        )
    ).windows
    assert one == (whole[SHIFT_DAY + 1],)


def test_no_decisions_no_drift_and_no_profile_no_section(churn: LoadedApp, store: Store) -> None:
    profile = reference_profile(churn)
    assert profile is not None
    drift = drift_of(report(churn, store, profile))
    assert [d.rows for d in drift.windows] == [0] * DAYS
    assert drift.latest is None and drift.status == "insufficient_data"  # nothing measured
    assert monitoring_report(churn.spec, store, now=START).drift is None


def test_profile_cache_writes_once_and_reads_back(churn: LoadedApp, tmp_path: Path) -> None:
    cache = ProfileCache(tmp_path / "profiles")
    first = cache.get(churn)
    files = list((tmp_path / "profiles").glob("churn-*.arrow"))
    assert first is not None and len(files) == 1
    again = ProfileCache(tmp_path / "profiles").get(churn)  # a restart reads the file
    assert again is not None and again.to_bytes() == first.to_bytes()
    assert set(again.features) == set(drift_features(churn.spec))


# --- attribution drift ------------------------------------------------------------------------


def more_tickets(customers: pl.DataFrame) -> pl.DataFrame:
    """Four more support tickets each (an outage): the model, which reads tickets as a strong
    churn signal, gives them a far larger share of its attention."""
    return customers.with_columns(pl.col("support_tickets_30d") + 4)


def with_drift_settings(app_dir: Path, name: str, settings: str) -> LoadedApp:
    text = (app_dir / "doorstep.yaml").read_text()
    assert "\nmonitoring:\n" in text
    spec = app_dir / f"{name}.yaml"
    spec.write_text(text.replace("\nmonitoring:\n", f"\nmonitoring:\n  drift: {settings}\n", 1))
    return load_app(spec)


@pytest.mark.slow
def test_attribution_drift_flags_the_feature_the_model_turns_to(
    churn_app: Path, store: Store
) -> None:
    churn = with_drift_settings(churn_app, "every-day", f"{{attribution_windows: {DAYS}}}")
    decide_days(churn, store, more_tickets)
    profile = reference_profile(churn)
    assert profile is not None and set(profile.attributions) == set(churn.spec.feature_fields)
    full = report(churn, store, profile)
    drift = drift_of(full)
    assert drift.attribution == AttributionSetup(
        rows=1000, windows=DAYS, method="linear-treeshap", note=None, reference_rows=1000
    )
    days = drift.windows
    for day in days[:SHIFT_DAY]:
        attribution = day.attribution
        assert attribution is not None and attribution.shift is not None
        assert attribution.status == "ok" and attribution.flagged == [], day
        assert attribution.shift < 0.05 and day.status == "ok"
        assert all(abs(f.share_change or 0) < 0.05 for f in attribution.features)
    after = days[SHIFT_DAY + 1].attribution
    assert after is not None and after.shift is not None
    tickets = next(f for f in after.features if f.feature == "support_tickets_30d")
    alerted = [f.feature for f in after.features if f.status == "alert"]
    assert after.status == "alert" and alerted == ["support_tickets_30d"]
    assert "support_tickets_30d" in after.flagged  # shares sum to one: others lose some
    assert tickets.share_change is not None
    assert tickets.status == "alert" and tickets.share_change >= 0.1
    assert tickets.share == pytest.approx(tickets.reference_share + tickets.share_change)
    assert after.shift >= 0.1 and days[SHIFT_DAY + 1].status == "alert"
    latest = drift.latest
    assert latest is not None and latest.report is not None and latest.attribution is not None
    assert latest.report.attribution_shift == latest.attribution.shift
    assert {a.feature for a in latest.report.attributions} == set(churn.spec.feature_fields)
    # alerts judge it as a subject of its own: a feature's drift status covers its values only
    alerts = AlertsSpec(connectors=["-"], drift=True)
    observed = {o.subject: o for o in observe(churn.spec, alerts, full)}
    attention = observed["drift.attribution"]
    assert attention.status == "alert" and attention.streak >= 2
    assert attention.statistic == "attribution_share_change" and attention.threshold == 0.1
    assert attention.checks[0].startswith("change of attribution share of support_tickets_30d")
    assert observed["drift.support_tickets_30d"].status == "alert"
    # shown in the HTML report and by `doorstep monitor`
    html = render_report_html(full)
    table = html[html.index('id="attribution-latest"') :]
    assert '<tr data-feature="support_tickets_30d" data-status="alert">' in table
    console = Console(width=160, record=True)
    render_drift(drift, console)
    text = console.export_text()
    assert "Attribution drift (share of mean |SHAP|)" in text and "attribution shift" in text


@pytest.mark.slow
def test_attribution_sample_is_deterministic_and_bounded(churn: LoadedApp, store: Store) -> None:
    decide_days(churn, store, more_tickets)
    profile = reference_profile(churn)
    again = reference_profile(churn)
    assert profile is not None and again is not None
    assert profile.attributions == again.attributions  # the seeded reference sample
    first = drift_of(report(churn, store, profile, chunk_rows=700))  # other page boundaries
    second = drift_of(report(churn, store, again))
    assert first.windows == second.windows  # PER_DAY (1,500) > attribution_rows (1,000)
    ids = [f"id-{i}" for i in range(5_000)]
    whole, paged = HashSample(300), HashSample(300)
    whole.add(ids, ids)
    for start in range(0, 5_000, 700):
        paged.add(ids[::-1][start : start + 700], ids[::-1][start : start + 700])
    assert whole.rows() == paged.rows() and len(whole.rows()) == 300
    assert len(paged.values) == 300  # never more than the sample held


def test_attribution_only_in_the_latest_windows_and_off_with_zero_rows(
    churn_app: Path, store: Store
) -> None:
    app = with_drift_settings(churn_app, "two", "{attribution_windows: 2, min_rows: 100}")
    decide_days(app, store)
    drift = drift_of(report(app, store, reference_profile(app)))  # type: ignore[arg-type]
    explained = [d.attribution is not None for d in drift.windows]
    assert explained == [False] * (DAYS - 2) + [True, True]
    off = with_drift_settings(churn_app, "off", "{attribution_rows: 0}")
    assert profile_key(off) != profile_key(app)  # a cached profile is rebuilt, not reused
    profile = reference_profile(off)
    assert profile is not None and profile.attributions == {}
    drift = drift_of(report(off, store, profile))
    assert all(d.attribution is None for d in drift.windows)
    assert drift.latest is not None and drift.latest.report is not None
    assert drift.latest.report.attributions == ()
    note = drift.attribution.note
    assert drift.attribution.rows == 0 and note is not None and "attribution_rows: 0" in note


@pytest.fixture(scope="module")
def permutation_app(
    churn_app_template: Path, tmp_path_factory: pytest.TempPathFactory
) -> LoadedApp:
    """The churn app explained by permutation, loaded once for both databases: loading checks
    the additivity of its explanations, seconds of model calls."""
    folder = tmp_path_factory.mktemp("permutation")
    shutil.copytree(churn_app_template, folder, dirs_exist_ok=True)
    spec = folder / "doorstep.yaml"
    text = spec.read_text()
    spec.write_text(text.replace("explain:\n", "explain:\n  method: permutation\n", 1))
    return load_app(spec)


def test_a_model_without_an_exact_explainer_reports_no_attribution_drift(
    permutation_app: LoadedApp, store: Store
) -> None:
    app = permutation_app
    assert app.spec.explain.method == "permutation"
    profile = reference_profile(app)
    assert profile is not None and profile.attributions == {}
    decide_days(app, store)
    drift = drift_of(report(app, store, profile))
    assert all(d.attribution is None for d in drift.windows)
    assert "no exact explainer" in (drift.attribution.note or "")
    assert drift.attribution.method == "permutation"
