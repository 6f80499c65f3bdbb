"""A regression model's MAE and RMSE estimated before outcomes (direct loss estimation): on
machines whose repair cost scatters more the more they vibrate, the estimate of each window
holds the realised error within its interval before the vibration shifts up, rises with it
after, raises an alert, and shows in the JSON, the CLI table and the HTML report; the loss
models are fitted deterministically and cached with the reference profile."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import lightgbm as lgb
import numpy as np
import polars as pl
import pytest
from rich.console import Console
from tests.services.monitor.test_drift import START

from doorstep.cli.monitor_render import render_report
from doorstep.core.spec.alerts import AlertsSpec
from doorstep.core.stats.drift import ReferenceProfile
from doorstep.core.stats.loss_estimate import EstimatedLoss
from doorstep.errors import SpecError
from doorstep.ids import new_id
from doorstep.services.apps.loading import LoadedApp, load_app
from doorstep.services.monitor.alert_observations import observe
from doorstep.services.monitor.drift import ProfileCache, reference_profile
from doorstep.services.monitor.loss_model import LossObserver, fit_loss
from doorstep.services.monitor.report import monitoring_report
from doorstep.services.monitor.report_html import render_report_html
from doorstep.services.outcomes.ingest import record_outcomes
from doorstep.store import RecordRequest, Store
from doorstep.types import Decision, DecisionStatus, MonitoringReport
from doorstep.web.estimation_schemas import EstimatedOut

SPEC = """\
app: {name: repairs, owner: ops@example.com}
model: {path: model.txt, task: regression}
inputs:
  id: machine_id
  fields:
    temperature: {type: float}
    vibration: {type: float}
reference: reference.parquet
actions: {inspect: {}}
policy:
  rules:
    - {when: "score >= 1000", action: inspect}
monitoring:
  outcome: {field: cost}
"""
DAYS = 4
PER_DAY = 1_000
SHIFT_DAY = 2
"""From this day on the machines vibrate more (a covariate shift into where errors are big)."""


def machines(rows: int, seed: int, *, shift: float = 0.0) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    temperature = rng.normal(60, 10, rows)
    vibration = rng.gamma(2, 1, rows) + shift
    # the cost's noise grows with vibration: the model's error depends on the inputs
    cost = 100 + 2 * (temperature - 60) + 10 * vibration + rng.normal(0, 2 + 6 * vibration)
    return pl.DataFrame(
        {
            "machine_id": [f"M{seed}-{i}" for i in range(rows)],
            "temperature": temperature,
            "vibration": vibration,
            "cost": cost,
        }
    )


@pytest.fixture
def app(tmp_path: Path) -> LoadedApp:
    train = machines(3_000, seed=1)
    data = lgb.Dataset(
        train.select("temperature", "vibration").to_numpy(),
        label=train["cost"].to_numpy(),
        feature_name=["temperature", "vibration"],
    )
    params = {"objective": "regression", "verbosity": -1, "num_threads": 1, "seed": 0}
    lgb.train(params, data, num_boost_round=40).save_model(str(tmp_path / "model.txt"))
    # held out from training, with each machine's cost: what the loss models learn from
    machines(3_000, seed=2).drop("machine_id").write_parquet(tmp_path / "reference.parquet")
    (tmp_path / "doorstep.yaml").write_text(SPEC)
    return load_app(tmp_path / "doorstep.yaml")


def decide_and_observe(app: LoadedApp, store: Store, *, concept: bool = False) -> None:
    """Four days of decisions and their costs: from ``SHIFT_DAY`` on the machines vibrate more
    (covariate shift) or, with ``concept``, vibrate as before but every repair costs 40 more
    (concept drift: the same inputs, another outcome)."""
    for day in range(DAYS):
        shifted = day >= SHIFT_DAY
        batch = machines(PER_DAY, seed=100 + day, shift=3.0 if shifted and not concept else 0.0)
        if shifted and concept:
            batch = batch.with_columns(pl.col("cost") + 40)
        scores = app.model.predict(batch.select("temperature", "vibration"))
        decisions = [
            Decision(
                id=new_id(),
                app="repairs",
                entity_id=row["machine_id"],
                model_version=app.model_version,
                model_hash="ab" * 32,
                inputs={"temperature": row["temperature"], "vibration": row["vibration"]},
                score=float(scores[i]),
                action="none",
                rule=None,
                review=False,
                control=False,
                status=DecisionStatus.DECIDED,
                reasons=None,
                reasons_text=None,
                created_at=START + timedelta(days=day, seconds=60 * i),
            )
            for i, row in enumerate(batch.iter_rows(named=True))
        ]
        store.record([RecordRequest(decisions)], actor="test")
        observed = (START + timedelta(days=DAYS + 1)).isoformat()
        body = [
            {"decision_id": d.id, "cost": float(batch["cost"][i]), "observed_at": observed}
            for i, d in enumerate(decisions)
        ]
        _, errors = record_outcomes(
            app.spec, store, body, actor="test", now=START + timedelta(days=DAYS + 1)
        )
        assert errors == []


def report(app: LoadedApp, store: Store, profile: ReferenceProfile) -> MonitoringReport:
    return monitoring_report(
        app.spec,
        store,
        window="day",
        since=START,
        until=START + timedelta(days=DAYS),
        now=START + timedelta(days=DAYS + 1),
        profile=profile,
    )


def test_estimated_errors_hold_the_realised_ones_then_rise_with_the_shift(
    app: LoadedApp, store: Store
) -> None:
    built = reference_profile(app)
    assert built is not None and built.loss is not None
    # cached as the calibration is: the loss models survive the profile's Arrow round trip
    profile = ReferenceProfile.from_bytes(built.to_bytes())
    assert profile.loss is not None and profile.loss.rows == 3_000
    decide_and_observe(app, store)
    found = report(app, store, profile)
    section = found.estimated
    assert section is not None and section.available and section.method == "dle"
    assert section.loss is not None and section.calibration is None
    for window in section.windows[:SHIFT_DAY]:
        assert window.rows == PER_DAY and window.diverged == ()
        for name in ("mae", "rmse"):
            estimate, realised = window.estimated[name], window.realised[name]
            assert estimate.value is not None and realised.value is not None
            assert estimate.low is not None and estimate.high is not None
            assert estimate.low < estimate.value < estimate.high
            assert estimate.low <= realised.value <= estimate.high, (name, estimate, realised)
    before = max(w.estimated["mae"].value or 0 for w in section.windows[:SHIFT_DAY])
    for window in section.windows[SHIFT_DAY:]:
        guess, measured = window.estimated["mae"].value, window.realised["mae"].value
        assert guess is not None and measured is not None
        assert guess > 1.5 * before  # the estimate follows the errors up
        assert measured > 1.5 * before  # as the realised errors go
    # shown in the JSON, the CLI table and the HTML report
    shown = section.to_dict()
    assert shown["method"] == "dle" and shown["loss"]["rows"] == 3_000
    assert set(shown["windows"][0]["mae"]) == {"value", "low", "high", "status", "realised"}
    api = EstimatedOut.model_validate(shown)  # the API's schema of the section
    assert api.method == "dle" and api.loss is not None
    assert api.windows[-1].mae is not None and api.windows[-1].mae.realised is not None
    out = Console(width=200, record=True)
    render_report(found, out)
    text = out.export_text()
    assert "Estimated quality (before outcomes)" in text and "MAE" in text and "RMSE" in text
    html = render_report_html(found)
    assert 'id="chart-estimated-mae"' in html and 'id="chart-estimated-rmse"' in html
    assert "Direct loss estimation" in html
    # alertable: a threshold between the windows before and after the shift
    alerts = AlertsSpec.model_validate(
        {"connectors": ["x"], "drift": False, "estimated": {"mae": {"alert": before * 1.25}}}
    )
    spec = app.spec.model_copy(
        update={"monitoring": app.spec.monitoring.model_copy(update={"alerts": alerts})}
    )
    seen = {o.subject: o for o in observe(spec, alerts, found)}
    assert seen["estimated.mae"].status == "alert" and seen["estimated.mae"].streak == 2
    assert seen["estimated.mae"].checks[0].startswith("estimated MAE")
    assert ">=" in seen["estimated.mae"].checks[0]
    judged = report(app, store, profile).estimated
    assert judged is not None


def test_concept_drift_shows_as_estimated_and_realised_errors_diverging(
    app: LoadedApp, store: Store
) -> None:
    profile = reference_profile(app)
    assert profile is not None
    decide_and_observe(app, store, concept=True)
    section = report(app, store, profile).estimated
    assert section is not None
    # the inputs did not move, so neither does the estimate; the realised error does
    assert [bool(w.diverged) for w in section.windows] == [False, False, True, True]
    assert set(section.windows[-1].diverged) == {"mae", "rmse"}
    first, last = section.windows[0].estimated["mae"], section.windows[-1].estimated["mae"]
    assert first.value is not None and last.value == pytest.approx(first.value, rel=0.1)


def test_the_loss_models_are_fitted_deterministically_and_cached(
    app: LoadedApp, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first, second = reference_profile(app), reference_profile(app)
    assert first is not None and second is not None
    assert first.loss is not None and second.loss is not None
    assert first.loss.absolute == second.loss.absolute
    assert first.loss.squared == second.loss.squared
    ProfileCache(tmp_path / "profiles").get(app)  # fitted once, written with the profile

    def refit(*args: object) -> None:
        raise AssertionError("the loss models were fitted again")

    monkeypatch.setattr("doorstep.services.monitor.drift.fit_loss_model", refit)
    cached = ProfileCache(tmp_path / "profiles").get(app)  # a restart: read, not fitted
    assert cached is not None and cached.loss is not None
    assert cached.loss.absolute == first.loss.absolute
    assert len(list((tmp_path / "profiles").glob("*.arrow"))) == 1


def test_a_regression_reference_without_outcomes_says_why(app: LoadedApp, tmp_path: Path) -> None:
    pl.read_parquet(tmp_path / "reference.parquet").drop("cost").write_parquet(
        tmp_path / "reference.parquet"
    )
    profile = reference_profile(load_app(tmp_path / "doorstep.yaml"))
    assert profile is not None and profile.loss is None
    assert profile.calibration_note is not None and "'cost'" in profile.calibration_note


def test_estimated_error_thresholds_are_checked_against_the_task(
    app: LoadedApp, tmp_path: Path
) -> None:
    text = SPEC + "  alerts:\n    connectors: [x]\n    estimated: {auc: {alert: 0.7}}\n"
    connector = "\nconnectors: {x: {type: file, path: a.jsonl}}"
    (tmp_path / "doorstep.yaml").write_text(
        text.replace("actions: {inspect: {}}", "actions: {inspect: {}}" + connector)
    )
    with pytest.raises(SpecError, match="auc is not estimated for regression models; use mae"):
        load_app(tmp_path / "doorstep.yaml")
    with pytest.raises(ValueError, match="higher is worse"):
        AlertsSpec.model_validate(
            {"connectors": ["x"], "estimated": {"rmse": {"warn": 20, "alert": 10}}}
        )


def test_the_interval_narrows_with_the_window() -> None:
    small, large = EstimatedLoss(4.0, 100.0), EstimatedLoss(4.0, 100.0)
    small.add(np.full(100, 5.0), np.full(100, 40.0))
    large.add(np.full(10_000, 5.0), np.full(10_000, 40.0))
    a, b = small.result()["mae"], large.result()["mae"]
    assert a.value == b.value == 5.0
    assert a.high is not None and b.high is not None
    assert a.high - 5.0 == pytest.approx(1.959964 * 4.0 / 10)
    assert b.high - 5.0 == pytest.approx(1.959964 * 4.0 / 100)
    rmse = large.result()["rmse"]
    assert rmse.value == pytest.approx(40.0**0.5)
    assert rmse.value is not None and rmse.low is not None and rmse.high is not None
    assert rmse.low < rmse.value < rmse.high
    assert EstimatedLoss(1.0, 1.0).result()["mae"].value is None


def test_categories_are_coded_by_the_reference_and_an_unseen_one_is_missing() -> None:
    rng = np.random.default_rng(5)
    site = rng.choice(["north", "south"], 2_000)
    measured = np.where(site == "north", rng.normal(0, 1, 2_000), rng.normal(0, 10, 2_000))
    reference = pl.DataFrame({"site": site, "load": rng.normal(0, 1, 2_000)})
    loss = fit_loss(reference, {"site": True, "load": False}, np.zeros(2_000), measured)
    assert loss.categories == {"site": ("north", "south")}
    observer = LossObserver(loss)
    for index, name in enumerate(["north", "south", "west"]):
        window = pl.DataFrame({"site": [name] * 500, "load": rng.normal(0, 1, 500)})
        observer.update(index, window.with_columns(score=pl.lit(0.0)))
        observer.finish(index)
    mae = [observer.results[i][1]["mae"].value for i in range(3)]
    assert all(value is not None for value in mae)
    north, south, west = (float(value or 0) for value in mae)
    assert north < 2 < 6 < south  # E|N(0, 1)| = 0.8, E|N(0, 10)| = 8
    assert north < west < south  # unseen: missing, between the two
