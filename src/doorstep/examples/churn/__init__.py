"""The churn example: synthetic subscription customers, a LightGBM model and a retention policy.

The generator is seeded, so the same seed gives the same customers on every machine. Churn
depends on the features the way an analyst would expect: support tickets, late payments and
silence raise it; tenure, long contracts, autopay and engagement lower it.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import numpy as np
import polars as pl

__all__ = [
    "FEATURES",
    "churn_logit",
    "churn_probability",
    "generate_customers",
    "train_model",
    "write_example",
]

FEATURES = [
    "tenure_months",
    "plan",
    "contract",
    "monthly_spend",
    "support_tickets_30d",
    "late_payments_12m",
    "logins_30d",
    "days_since_last_login",
    "discount_pct",
    "region",
    "autopay",
    "nps_score",
]
CATEGORICAL = ["plan", "contract", "region"]
PLANS = ["basic", "plus", "premium"]
CONTRACTS = ["monthly", "annual", "two_year"]
REGIONS = ["north", "south", "east", "west"]


def generate_customers(rows: int, *, seed: int = 7, start_id: int = 1) -> pl.DataFrame:
    """``rows`` customers with a ``churned`` label (0/1) drawn from a known risk model."""
    rng = np.random.default_rng(seed)
    plan = rng.choice(PLANS, rows, p=[0.5, 0.32, 0.18])
    contract = rng.choice(CONTRACTS, rows, p=[0.55, 0.3, 0.15])
    tenure = np.minimum(rng.gamma(1.6, 16.0, rows).astype(np.int64), 120)
    base_spend = np.select([plan == "basic", plan == "plus"], [19.0, 39.0], 79.0)
    spend = np.round(base_spend * rng.lognormal(0.0, 0.18, rows), 2)
    tickets = rng.poisson(0.6 + 1.4 * (plan == "basic"), rows)
    late = rng.poisson(0.35, rows) + (rng.random(rows) < 0.05) * rng.integers(1, 6, rows)
    engagement = rng.beta(2.0, 2.0, rows)
    logins = rng.poisson(2 + 28 * engagement)
    days_idle = np.minimum(rng.exponential(3 + 40 * (1 - engagement)).astype(np.int64), 365)
    discount = np.round(np.where(rng.random(rows) < 0.25, rng.uniform(5, 40, rows), 0.0), 1)
    region = rng.choice(REGIONS, rows)
    autopay = rng.random(rows) < 0.35 + 0.004 * np.minimum(tenure, 60)
    nps = np.clip(np.round(rng.normal(7.5 - 0.6 * tickets, 1.8)), 0, 10).astype(np.int64)
    nps_missing = rng.random(rows) < 0.12

    logit = churn_logit(
        tickets=tickets,
        late=late,
        days_idle=days_idle,
        logins=logins,
        tenure=tenure,
        contract=contract,
        autopay=autopay,
        spend=spend,
        base_spend=base_spend,
        discount=discount,
        nps=np.where(nps_missing, np.nan, nps),
        region=region,
    )
    churned = (rng.random(rows) < 1 / (1 + np.exp(-logit))).astype(np.int64)
    return pl.DataFrame(
        {
            "customer_id": [f"C-{i:07d}" for i in range(start_id, start_id + rows)],
            "tenure_months": tenure,
            "plan": plan,
            "contract": contract,
            "monthly_spend": spend,
            "support_tickets_30d": tickets,
            "late_payments_12m": late,
            "logins_30d": logins,
            "days_since_last_login": days_idle,
            "discount_pct": discount,
            "region": region,
            "autopay": autopay,
            "nps_score": pl.Series(np.where(nps_missing, -1, nps)).replace(-1, None),
            "email": [f"customer{i}@example.com" for i in range(start_id, start_id + rows)],
            "churned": churned,
        }
    )


def churn_logit(
    *,
    tickets: np.ndarray,
    late: np.ndarray,
    days_idle: np.ndarray,
    logins: np.ndarray,
    tenure: np.ndarray,
    contract: np.ndarray,
    autopay: np.ndarray,
    spend: np.ndarray,
    base_spend: np.ndarray,
    discount: np.ndarray,
    nps: np.ndarray,
    region: np.ndarray,
) -> np.ndarray:
    """The true model behind the example: log-odds of churn from a customer's features (a
    missing NPS answer, NaN, adds nothing)."""
    logit: np.ndarray = (
        -1.6
        + 0.42 * tickets
        + 0.55 * late
        + 0.035 * days_idle
        - 0.045 * logins
        - 0.9 * np.log1p(tenure / 6)
        + np.select([contract == "annual", contract == "two_year"], [-0.9, -1.7], 0.5)
        - 0.6 * autopay
        + 0.012 * (spend - base_spend)
        - 0.02 * discount
        + np.where(np.isnan(nps), 0.0, -0.22 * (np.nan_to_num(nps) - 7))
        + np.where(region == "south", 0.25, 0.0)
    )
    return logit


def churn_probability(customers: pl.DataFrame) -> np.ndarray:
    """The true probability that each customer churns (what the trained model estimates)."""
    plan = customers["plan"].to_numpy()
    probability: np.ndarray = 1 / (
        1
        + np.exp(
            -churn_logit(
                tickets=customers["support_tickets_30d"].to_numpy(),
                late=customers["late_payments_12m"].to_numpy(),
                days_idle=customers["days_since_last_login"].to_numpy(),
                logins=customers["logins_30d"].to_numpy(),
                tenure=customers["tenure_months"].to_numpy(),
                contract=customers["contract"].to_numpy(),
                autopay=customers["autopay"].to_numpy(),
                spend=customers["monthly_spend"].to_numpy(),
                base_spend=np.select([plan == "basic", plan == "plus"], [19.0, 39.0], 79.0),
                discount=customers["discount_pct"].to_numpy(),
                nps=customers["nps_score"].cast(pl.Float64).fill_null(np.nan).to_numpy(),
                region=customers["region"].to_numpy(),
            )
        )
    )
    return probability


def train_model(frame: pl.DataFrame, *, trees: int = 200, seed: int = 7) -> object:
    """A LightGBM binary classifier on the example's features (categoricals native)."""
    import lightgbm as lgb

    pdf = frame.select(FEATURES).to_pandas()
    for name, values in zip(CATEGORICAL, (PLANS, CONTRACTS, REGIONS), strict=True):
        pdf[name] = pdf[name].astype("category").cat.set_categories(values)
    pdf["autopay"] = pdf["autopay"].astype("int64")
    pdf["nps_score"] = pdf["nps_score"].astype("float64")
    data = lgb.Dataset(pdf, label=frame["churned"].to_numpy(), categorical_feature=CATEGORICAL)
    params = {
        "objective": "binary",
        "learning_rate": 0.05,
        "num_leaves": 31,
        "min_data_in_leaf": 40,
        "feature_fraction": 0.9,
        "seed": seed,
        "deterministic": True,
        "num_threads": 2,
        "verbosity": -1,
    }
    return lgb.train(params, data, num_boost_round=trees)


REFERENCE_ROWS = 5_000
"""Customers held out of training as the reference data: drift's baseline, and the labelled
rows the scores are calibrated on (a model is over-confident on its own training rows, so
quality estimated from a calibration fitted on them would be too optimistic)."""


def write_example(
    directory: Path, *, rows: int = 20_000, trees: int = 200, customers: int = 2_000, seed: int = 7
) -> list[Path]:
    """Write a complete app into ``directory``: spec, model, reference data (customers of the
    same population held out of training), customers to score."""
    directory.mkdir(parents=True, exist_ok=True)
    training = generate_customers(rows, seed=seed)
    booster = train_model(training, trees=trees, seed=seed)
    model_path = directory / "model.lgb.txt"
    booster.save_model(str(model_path))  # type: ignore[attr-defined]
    reference = directory / "reference.parquet"
    held_out = generate_customers(REFERENCE_ROWS, seed=seed + 2, start_id=rows + customers + 1)
    held_out.drop("email").write_parquet(reference)
    sample = directory / "customers.parquet"
    fresh = generate_customers(customers, seed=seed + 1, start_id=rows + 1)
    fresh.drop("churned").write_parquet(sample)
    features = write_feature_table(directory / "features.db", fresh.drop("churned"))
    spec = directory / "doorstep.yaml"
    spec.write_text(resources.files(__package__).joinpath("doorstep.yaml").read_text("utf-8"))
    return [spec, model_path, reference, sample, features]


FEATURE_TABLE = "customer_features"


def write_feature_table(path: Path, customers: pl.DataFrame) -> Path:
    """The demo's feature source: a SQLite table with one row per customer and the time it was
    last updated (``updated_at``), so decisions can be asked for by customer id alone."""
    import sqlite3
    from datetime import UTC, datetime

    path.unlink(missing_ok=True)
    names = customers.columns
    now = datetime.now(UTC).isoformat(timespec="seconds")
    types = {pl.Int64: "INTEGER", pl.Float64: "REAL", pl.Boolean: "INTEGER"}
    columns = ", ".join(
        f"{n} {types.get(customers.schema[n].base_type(), 'TEXT')}"
        + (" PRIMARY KEY" if n == "customer_id" else "")
        for n in names
    )
    with sqlite3.connect(path) as conn:
        conn.execute(f"CREATE TABLE {FEATURE_TABLE} ({columns}, updated_at TEXT NOT NULL)")
        marks = ", ".join("?" for _ in range(len(names) + 1))
        conn.executemany(
            f"INSERT INTO {FEATURE_TABLE} VALUES ({marks})",
            [(*row, now) for row in customers.iter_rows()],
        )
    return path
