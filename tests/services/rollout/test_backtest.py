"""Backtest on a real store: the churn example's decisions recorded with outcomes, replayed
through a retrained model; the counts agree with deciding the same records directly, the
quality with scikit-learn. On SQLite and PostgreSQL."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from sklearn.metrics import roc_auc_score

from doorstep.errors import InputError
from doorstep.examples.churn import generate_customers, train_model
from doorstep.examples.churn.outcomes import simulate_outcomes
from doorstep.services.apps.loading import LoadedApp, with_model
from doorstep.services.decide.batch import decide_batch
from doorstep.services.decide.recording import record_batch
from doorstep.services.outcomes.ingest import record_outcomes
from doorstep.services.rollout.backtest import backtest
from doorstep.store import RecordRequest, Store

pytestmark = pytest.mark.slow

T0 = datetime(2025, 3, 1, tzinfo=UTC)


def seed(store: Store, app: LoadedApp, customers: pl.DataFrame) -> None:
    """Decide and record ``customers`` over four days, then one outcome per customer."""
    records = customers.to_dicts()
    for day in range(4):
        part = records[day::4]
        batch = decide_batch(app, pl.DataFrame(part))
        recorded = record_batch(app, batch, part, now=T0 + timedelta(days=day, hours=1))
        store.record([RecordRequest(recorded.decisions)], actor="test")
    outcomes = simulate_outcomes(customers, {r["customer_id"]: False for r in records},
                                 observed_at=T0 + timedelta(days=10))  # fmt: skip
    result, errors = record_outcomes(
        app.spec, store, outcomes.to_dicts(), actor="test", now=T0 + timedelta(days=11)
    )
    assert errors == [] and result.matched == customers.height


@pytest.fixture
def candidate(churn_loaded_app: LoadedApp, tmp_path: Path) -> LoadedApp:
    path = tmp_path / "model-v2.lgb.txt"
    train_model(generate_customers(3_000, seed=11), trees=25, seed=11).save_model(str(path))  # type: ignore[attr-defined]
    return with_model(churn_loaded_app, path, version="2")


def test_replay_counts_the_flips_the_candidate_makes(
    store: Store, churn_loaded_app: LoadedApp, candidate: LoadedApp
) -> None:
    customers = generate_customers(1_200, seed=5)
    seed(store, churn_loaded_app, customers)
    done: list[int] = []
    totals: list[int] = []
    report = backtest(
        churn_loaded_app, candidate, store, chunk_rows=250, progress=done.append,
        on_total=totals.append,
    )  # fmt: skip
    assert totals == [customers.height] and len(done) == 5
    direct_old = decide_batch(churn_loaded_app, customers, explain=False).decisions
    direct_new = decide_batch(candidate, customers, explain=False).decisions
    pairs = zip(direct_old["action"].to_list(), direct_new["action"].to_list(), strict=True)
    expected = Counter(pairs)
    assert report.decisions == sum(done) == customers.height and report.not_replayed == 0
    assert report.transitions == dict(expected)
    assert report.flips == sum(n for (a, b), n in expected.items() if a != b) > 0
    assert report.candidate.review == int(direct_new["review"].sum())
    assert report.champion.review == int(direct_old["review"].sum())
    assert report.candidate.control == int(direct_new["control"].sum())
    assert report.champion.control == int(direct_old["control"].sum())
    assert report.champion.versions == {churn_loaded_app.model_version: customers.height}
    assert report.candidate.versions == {"2": customers.height}
    # quality on the labelled decisions: the AUCs scikit-learn finds on the same scores
    churned = simulate_outcomes(
        customers, dict.fromkeys(customers["customer_id"].to_list(), False),
        observed_at=T0,
    )["churned"].to_numpy()  # fmt: skip
    assert report.labelled == customers.height
    for side, frame in ((report.champion, direct_old), (report.candidate, direct_new)):
        assert side.quality is not None
        auc = side.quality.metric("auc")
        assert auc is not None and auc.value is not None
        assert auc.value == pytest.approx(roc_auc_score(churned, frame["score"].to_numpy()))
    assert report.difference is not None and report.difference.auc is not None
    assert report.difference.difference.value == pytest.approx(
        roc_auc_score(churned, direct_new["score"].to_numpy())
        - roc_auc_score(churned, direct_old["score"].to_numpy())
    )
    assert "AUC" in report.verdict
    # the sample: flipping decisions, explained by both models
    assert 0 < len(report.sample) <= 20
    flips = {
        e: (a, b)
        for e, a, b in zip(
            direct_old["entity_id"].to_list(),
            direct_old["action"].to_list(),
            direct_new["action"].to_list(),
            strict=True,
        )
    }
    for flip in report.sample:
        assert flips[flip.entity_id] == (flip.champion_action, flip.candidate_action)
        assert flip.champion_action != flip.candidate_action
        assert flip.candidate_reasons and flip.champion_reasons
    assert report.as_dict()["flips"] == report.flips


def test_the_same_model_flips_nothing(store: Store, churn_loaded_app: LoadedApp) -> None:
    customers = generate_customers(300, seed=6)
    seed(store, churn_loaded_app, customers)
    same = with_model(
        churn_loaded_app, churn_loaded_app.root / churn_loaded_app.spec.model.path, version="1b"
    )
    report = backtest(churn_loaded_app, same, store)
    assert report.flips == 0 and report.sample == ()
    assert report.difference is not None
    assert report.difference.difference.value == pytest.approx(0.0, abs=1e-12)
    assert report.champion.expected_value is not None and report.candidate.expected_value
    assert report.champion.expected_value.value == report.candidate.expected_value.value


def test_the_range_limits_what_is_replayed(
    store: Store, churn_loaded_app: LoadedApp, candidate: LoadedApp
) -> None:
    customers = generate_customers(400, seed=7)
    seed(store, churn_loaded_app, customers)
    report = backtest(
        churn_loaded_app,
        candidate,
        store,
        since=T0 + timedelta(days=1),
        until=T0 + timedelta(days=3),
    )
    assert report.decisions == 200
    assert np.isclose(sum(report.transitions.values()), 200)


def test_an_empty_range_replays_nothing_and_says_so(
    store: Store, churn_loaded_app: LoadedApp, candidate: LoadedApp
) -> None:
    report = backtest(churn_loaded_app, candidate, store)
    assert report.decisions == 0 and report.flips == 0 and report.difference is None
    assert report.verdict.startswith("Not enough outcomes yet")


def test_a_candidate_of_another_app_is_refused(
    store: Store, churn_loaded_app: LoadedApp, candidate: LoadedApp
) -> None:
    import dataclasses

    other = dataclasses.replace(
        candidate,
        doc=dataclasses.replace(
            candidate.doc,
            spec=candidate.spec.model_copy(
                update={"app": candidate.spec.app.model_copy(update={"name": "fraud"})}
            ),
        ),
    )
    with pytest.raises(InputError, match="fraud"):
        backtest(churn_loaded_app, other, store)


def test_inputs_of_other_json_types_are_replayed_and_broken_ones_counted(
    store: Store, churn_loaded_app: LoadedApp, candidate: LoadedApp
) -> None:
    import dataclasses

    customers = generate_customers(40, seed=9)
    records = customers.to_dicts()
    batch = decide_batch(churn_loaded_app, pl.DataFrame(records))
    made = record_batch(churn_loaded_app, batch, records, now=T0).decisions
    texts = dataclasses.replace(
        made[0], inputs={**made[0].inputs, "tenure_months": str(made[0].inputs["tenure_months"])}
    )
    broken = dataclasses.replace(made[1], inputs={**made[1].inputs, "plan": "platinum"})
    store.record([RecordRequest([texts, broken, *made[2:]])], actor="test")
    report = backtest(churn_loaded_app, candidate, store)
    assert report.decisions == 39 and report.not_replayed == 1
    assert "platinum" in report.not_replayed_examples[0]
    direct = decide_batch(candidate, customers, explain=False).decisions
    expected = Counter(
        zip(batch.decisions["action"].to_list(), direct["action"].to_list(), strict=True)
    )
    expected[(made[1].action, direct["action"][1])] -= 1
    assert report.transitions == {k: n for k, n in expected.items() if n}


def test_the_report_does_not_depend_on_where_the_pages_end(
    store: Store, churn_loaded_app: LoadedApp, candidate: LoadedApp
) -> None:
    # half the decisions without an outcome, so pages mix labelled and unlabelled rows
    customers = generate_customers(600, seed=9)
    records = customers.to_dicts()
    for day in range(2):
        part = records[day::2]
        batch = decide_batch(churn_loaded_app, pl.DataFrame(part))
        recorded = record_batch(
            churn_loaded_app, batch, part, now=T0 + timedelta(days=day, hours=1)
        )
        store.record([RecordRequest(recorded.decisions)], actor="test")
    outcomes = simulate_outcomes(
        customers, {r["customer_id"]: False for r in records}, observed_at=T0 + timedelta(days=10)
    ).head(300)
    _, errors = record_outcomes(churn_loaded_app.spec, store, outcomes.to_dicts(), actor="test",
                                now=T0 + timedelta(days=11))  # fmt: skip
    assert errors == []
    reports = [
        backtest(churn_loaded_app, candidate, store, chunk_rows=n).as_dict()
        for n in (600, 1_000, 250, 97)  # one page, more than all, uneven pages, many pages
    ]
    assert reports[0]["decisions"] == 600 and reports[0]["labelled"] == 300
    assert reports[0]["champion"]["review"] == int(
        decide_batch(churn_loaded_app, customers, explain=False).decisions["review"].sum()
    )
    for other in reports[1:]:
        assert other == reports[0]
