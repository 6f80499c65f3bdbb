"""The specs that docs/models.md shows, written as they are, validate and score real models.

The XGBoost and scikit-learn examples are taken from the page itself, so the docs cannot drift
from what doorstep accepts.
"""

from __future__ import annotations

import re
from pathlib import Path

import joblib
import numpy as np
import pandas as pd
import polars as pl
import pytest
import xgboost as xgb
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import GradientBoostingClassifier
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler
from tests.paths import ROOT

from doorstep.services.apps.loading import load_app
from doorstep.services.runs.files import score_file

pytestmark = pytest.mark.slow

DOCS = ROOT / "docs" / "models.md"
FEATURES = ["tenure_months", "plan", "monthly_spend", "support_tickets_30d"]


def documented_spec(model_file: str) -> str:
    blocks: list[str] = re.findall(r"```yaml\n(.*?)```", DOCS.read_text(), flags=re.S)
    (block,) = [b for b in blocks if f"path: {model_file}" in b]
    return block


def customers(rows: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {
            "customer_id": [f"C-{seed}-{i}" for i in range(rows)],
            "tenure_months": rng.integers(0, 120, rows),
            "plan": rng.choice(["basic", "plus", "premium"], rows),
            "monthly_spend": rng.gamma(2.0, 20.0, rows).round(2),
            "support_tickets_30d": rng.poisson(1.0, rows),
        }
    )
    logit = 0.6 * frame.support_tickets_30d - 0.03 * frame.tenure_months + (frame.plan == "basic")
    frame["churned"] = (rng.random(rows) < 1 / (1 + np.exp(-logit))).astype(int)
    frame["email"] = [f"c{i}@example.com" for i in range(rows)]
    return frame


def write_app(directory: Path, model_file: str, train: pd.DataFrame) -> Path:
    pl.from_pandas(train[FEATURES]).write_parquet(directory / "reference.parquet")
    pl.from_pandas(customers(300, seed=2).drop(columns="churned")).write_csv(
        directory / "customers.csv"
    )
    spec = directory / "doorstep.yaml"
    spec.write_text(documented_spec(model_file))
    return spec


def score_and_check(spec: Path, tmp_path: Path) -> pl.DataFrame:
    app = load_app(spec)
    assert app.additivity_error is not None and app.additivity_error < 1e-4
    out = tmp_path / "decisions.parquet"
    summary = score_file(app, spec.parent / "customers.csv", out, explain=True)
    assert (summary.decided, summary.rejected_rows) == (300, 0)
    decisions = pl.read_parquet(out)
    assert decisions["reasons"].null_count() == 0
    assert decisions["score"].is_between(0, 1).all()
    return decisions


def test_documented_xgboost_spec(tmp_path: Path) -> None:
    train = customers(1_500, seed=1)
    x = train[FEATURES].assign(plan=train.plan.astype("category"))
    model = xgb.XGBClassifier(n_estimators=30, max_depth=3, enable_categorical=True)
    model.fit(x, train.churned)
    model.get_booster().save_model(str(tmp_path / "churn.ubj"))
    spec = write_app(tmp_path, "churn.ubj", train)
    decisions = score_and_check(spec, tmp_path)
    test = pd.read_csv(tmp_path / "customers.csv")
    expected = model.predict_proba(
        test[FEATURES].assign(
            plan=pd.Categorical(test.plan, categories=["basic", "plus", "premium"])
        )
    )[:, 1]
    np.testing.assert_allclose(decisions["score"].to_numpy(), expected, atol=1e-6)
    assert decisions["reasons"][0][0]["label"] in {
        "Months as a customer",
        "Plan",
        "Monthly spend",
        "Support tickets in the last 30 days",
    }


def test_documented_sklearn_pipeline_spec(tmp_path: Path) -> None:
    train = customers(1_500, seed=1)
    model = Pipeline(
        [
            (
                "columns",
                ColumnTransformer(
                    [
                        ("plan", OneHotEncoder(handle_unknown="ignore"), ["plan"]),
                        ("scaled", StandardScaler(), ["monthly_spend", "tenure_months"]),
                    ],
                    remainder="passthrough",
                ),
            ),
            ("trees", GradientBoostingClassifier(n_estimators=30, max_depth=3)),
        ]
    ).fit(train[FEATURES], train["churned"])
    joblib.dump(model, tmp_path / "churn.joblib")
    spec = write_app(tmp_path, "churn.joblib", train)
    decisions = score_and_check(spec, tmp_path)
    test = pd.read_csv(tmp_path / "customers.csv")
    np.testing.assert_allclose(
        decisions["score"].to_numpy(), model.predict_proba(test[FEATURES])[:, 1], atol=1e-12
    )
    features = {r["feature"] for reasons in decisions["reasons"].to_list() for r in reasons}
    assert features <= set(FEATURES) and "plan" in features  # one-hot columns summed back
