"""The one decision path on a batch: validate → predict → decide → explain."""

from __future__ import annotations

from dataclasses import replace

import lightgbm as lgb
import numpy as np
import polars as pl
import pytest

from doorstep.examples.churn import FEATURES, generate_customers
from doorstep.services.apps.loading import LoadedApp
from doorstep.services.decide.batch import decide_batch, decision_schema
from doorstep.types import Reason

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def app(churn_loaded_app: LoadedApp) -> LoadedApp:
    return churn_loaded_app


@pytest.fixture(scope="module")
def customers() -> pl.DataFrame:
    return generate_customers(3_000, seed=11).drop("churned")


def test_scores_equal_the_raw_model(app: LoadedApp, customers: pl.DataFrame) -> None:
    batch = decide_batch(app, customers)
    assert batch.rejects.height == 0
    booster = lgb.Booster(model_file=str(app.root / "model.lgb.txt"))
    pdf = customers.select(FEATURES).to_pandas()
    categories = booster.pandas_categorical
    assert categories is not None
    for name, cats in zip(["plan", "contract", "region"], categories, strict=True):
        pdf[name] = pdf[name].astype("category").cat.set_categories(cats)
    pdf["autopay"] = pdf["autopay"].astype("int64")
    pdf["nps_score"] = pdf["nps_score"].astype("float64")
    np.testing.assert_allclose(
        batch.decisions["score"].to_numpy(), booster.predict(pdf), atol=1e-12
    )


def test_policy_statuses_and_reasons_follow_the_spec(
    app: LoadedApp, customers: pl.DataFrame
) -> None:
    d = decide_batch(app, customers).decisions
    assert d.schema == pl.Schema(decision_schema(app))
    assert d["row"].to_list() == list(range(1, customers.height + 1))
    # the first matching rule decides, exactly as the spec's policy reads
    joined = d.join(customers, left_on="entity_id", right_on="customer_id")
    score, plan, tenure = pl.col("score"), pl.col("plan"), pl.col("tenure_months")
    expected = joined.select(
        pl.when((score >= 0.70) & (plan == "premium"))
        .then(pl.lit("premium at high risk"))
        .when(score >= 0.60)
        .then(pl.lit("high risk"))
        .when((score >= 0.40) & (tenure >= 6))
        .then(pl.lit("borderline"))
        .otherwise(None)
        .alias("rule")
    )["rule"]
    assert joined["rule"].to_list() == expected.to_list()
    assert set(expected.drop_nulls()) >= {"high risk", "borderline"}
    action_of = {
        "premium at high risk": "call_customer",
        "high risk": "retention_offer",
        "borderline": "retention_offer",
        None: "none",
    }
    assert joined["action"].to_list() == [action_of[r] for r in expected.to_list()]
    # status: held_out for acted control members, pending_review for review rules, else decided
    acted = d.filter(pl.col("action") != "none")
    held = acted.filter(pl.col("control"))
    assert set(held["status"]) == {"held_out"}
    review = acted.filter(~pl.col("control") & pl.col("review"))
    assert review.height > 0 and set(review["status"]) == {"pending_review"}
    assert set(review["rule"]) == {"borderline"}
    assert d.filter(pl.col("action") == "none")["control"].sum() == 0
    # explain.for = [acted, review]: exactly the acted decisions carry reasons
    assert d.filter(pl.col("reasons").is_not_null()).height == acted.height
    assert d.filter(pl.col("action") == "none")["reasons_text"].null_count() == (
        d.filter(pl.col("action") == "none").height
    )
    reasons: list[Reason] = acted.row(0, named=True)["reasons"]
    assert len(reasons) == 3 and set(reasons[0]) == set(Reason.__annotations__)
    assert "churn risk by" in reasons[0]["sentence"]


def test_control_group_is_about_ten_percent_and_stable(
    app: LoadedApp, customers: pl.DataFrame
) -> None:
    first = decide_batch(app, customers).decisions
    again = decide_batch(app, customers.reverse()).decisions.reverse()
    assert first["control"].to_list() == again["control"].to_list()
    acted = first.filter(pl.col("action") != "none")
    assert 0.04 < acted["control"].mean() < 0.18  # type: ignore[operator]


def test_explain_override_and_effects_add_up(app: LoadedApp, customers: pl.DataFrame) -> None:
    every = decide_batch(app, customers.head(200), explain=True).decisions
    assert every["reasons"].null_count() == 0
    none = decide_batch(app, customers.head(200), explain=False).decisions
    assert none["reasons"].null_count() == 200
    # with all 12 features, the effects of one decision add up to score - base score
    top_all = app.spec.explain.model_copy(update={"top": 12})
    spec = app.spec.model_copy(update={"explain": top_all})
    full = replace(app, doc=replace(app.doc, spec=spec))
    rows = decide_batch(full, customers.head(50), explain=True).decisions
    contributions = app.model.contributions(customers.head(50).select(FEATURES))
    base = 1 / (1 + np.exp(-contributions.base[:, 0]))
    effects = np.array([[r["effect"] for r in reasons] for reasons in rows["reasons"].to_list()])
    np.testing.assert_allclose(
        effects.sum(axis=1), 100 * (rows["score"].to_numpy() - base), atol=1e-8
    )


def test_bad_records_are_rejected_and_good_ones_go_on(
    app: LoadedApp, customers: pl.DataFrame
) -> None:
    frame = customers.head(5).with_columns(
        pl.col("tenure_months").cast(pl.String), pl.col("plan").cast(pl.String)
    )
    frame = frame.with_columns(
        pl.when(pl.int_range(pl.len()) == 1)
        .then(pl.lit("-3"))
        .otherwise("tenure_months")
        .alias("tenure_months"),
        pl.when(pl.int_range(pl.len()) == 3).then(pl.lit("gold")).otherwise("plan").alias("plan"),
    )
    batch = decide_batch(app, frame, row_offset=100)
    assert batch.decisions["row"].to_list() == [101, 103, 105]
    rejects = batch.rejects.sort("row")
    assert rejects.select("row", "field", "rule").rows() == [
        (102, "tenure_months", "min"),
        (104, "plan", "allowed_values"),
    ]
    assert rejects["entity_id"].to_list() == frame["customer_id"].gather([1, 3]).to_list()


def test_empty_batch(app: LoadedApp, customers: pl.DataFrame) -> None:
    batch = decide_batch(app, customers.head(0))
    assert batch.decisions.height == 0 and batch.rejects.height == 0
    assert batch.decisions.schema == pl.Schema(decision_schema(app))
