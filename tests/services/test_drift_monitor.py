"""Drift in the monitoring report, on a real store: the churn example's customers decided day by
day, with drift injected into two features from a known day. The report flags exactly those two
in the first full window after the shift, and nothing before it. On SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pytest

from doorstep.examples.churn import generate_customers
from doorstep.ids import new_id
from doorstep.monitoring.drift import ReferenceProfile
from doorstep.services.app import LoadedApp, load_app
from doorstep.services.drift import ProfileCache, drift_features, reference_profile
from doorstep.services.monitoring import monitoring_report
from doorstep.store import DecisionRecord, RecordRequest, Store

START = datetime(2025, 3, 3, tzinfo=UTC)
DAYS = 6
SHIFT_DAY = 3
"""Drift starts at 12:00 on this day: the first full window after it is the next day."""
PER_DAY = 1_500
DRIFTED = {"monthly_spend", "days_since_last_login"}


def drifted(customers: pl.DataFrame) -> pl.DataFrame:
    """Spend up by half (a price rise) and logins ten days staler (an outage of the app)."""
    return customers.with_columns(
        (pl.col("monthly_spend") * 1.5).round(2),
        pl.col("days_since_last_login") + 10,
    )


def decide_days(app: LoadedApp, store: Store) -> None:
    fields = list(app.spec.feature_fields)
    rng = np.random.default_rng(3)
    for day in range(DAYS):
        customers = generate_customers(PER_DAY, seed=100 + day, start_id=1 + day * PER_DAY)
        minutes = np.sort(rng.integers(0, 24 * 60, PER_DAY))
        created = [START + timedelta(days=day, minutes=int(m)) for m in minutes]
        shift = START + timedelta(days=SHIFT_DAY, hours=12)
        late = pl.Series([c >= shift for c in created])
        customers = pl.concat([customers.filter(~late), drifted(customers.filter(late))])
        scores = app.model.predict(customers.select(fields))
        rows = customers.select(["customer_id", *fields]).to_dicts()
        records = [
            DecisionRecord(
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
                status="decided",
                reasons=None,
                reasons_text=None,
                created_at=created[i],
            )
            for i, row in enumerate(rows)
        ]
        store.record([RecordRequest(records)], actor="test")


@pytest.fixture
def churn(churn_app: Path) -> LoadedApp:
    return load_app(churn_app / "doorstep.yaml")


def report(app: LoadedApp, store: Store, profile: ReferenceProfile, **kw: Any) -> dict[str, Any]:
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


@pytest.mark.slow
def test_drift_flags_the_two_drifted_features_from_the_first_full_window(
    churn: LoadedApp, store: Store
) -> None:
    decide_days(churn, store)
    profile = reference_profile(churn)
    assert profile is not None and profile.score is not None
    drift = report(churn, store, profile, chunk_rows=700)["drift"]  # pages cross windows

    days = drift["windows"]
    assert [d["rows"] for d in days] == [PER_DAY] * DAYS
    for day in days[:SHIFT_DAY]:
        assert day["flagged"] == [], day
        assert day["status"] == "ok"
    assert set(days[SHIFT_DAY + 1]["flagged"]) == DRIFTED
    assert set(days[SHIFT_DAY + 1]["alerted"]) == DRIFTED
    assert set(days[-1]["flagged"]) == DRIFTED
    spend = days[SHIFT_DAY + 1]["features"]["monthly_spend"]
    assert spend["status"] == "alert" and spend["psi"] >= 0.25
    assert days[0]["features"]["monthly_spend"]["psi"] < 0.1
    latest = drift["latest"]
    assert latest["start"] == days[-1]["start"]
    assert {f["name"] for f in latest["report"]["features"]} == set(drift_features(churn.spec))
    assert latest["report"]["score"]["name"] == "score"
    assert drift["status"] == "alert"


@pytest.mark.slow
def test_windows_from_one_pass_equal_each_window_alone(churn: LoadedApp, store: Store) -> None:
    decide_days(churn, store)
    profile = reference_profile(churn)
    assert profile is not None
    whole = report(churn, store, profile)["drift"]["windows"]
    one = monitoring_report(
        churn.spec,
        store,
        window="day",
        since=START + timedelta(days=SHIFT_DAY + 1),
        until=START + timedelta(days=SHIFT_DAY + 2),
        now=START + timedelta(days=DAYS + 1),
        profile=profile,
    )["drift"]["windows"]
    assert one == [whole[SHIFT_DAY + 1]]


def test_no_decisions_no_drift_and_no_profile_no_section(churn: LoadedApp, store: Store) -> None:
    profile = reference_profile(churn)
    assert profile is not None
    drift = report(churn, store, profile)["drift"]
    assert [d["rows"] for d in drift["windows"]] == [0] * DAYS
    assert drift["latest"] is None and drift["status"] == "ok"
    assert monitoring_report(churn.spec, store, now=START)["drift"] is None


def test_profile_cache_writes_once_and_reads_back(churn: LoadedApp, tmp_path: Path) -> None:
    cache = ProfileCache(tmp_path / "profiles")
    first = cache.get(churn)
    files = list((tmp_path / "profiles").glob("churn-*.arrow"))
    assert first is not None and len(files) == 1
    again = ProfileCache(tmp_path / "profiles").get(churn)  # a restart reads the file
    assert again is not None and again.to_bytes() == first.to_bytes()
    assert set(again.features) == set(drift_features(churn.spec))
