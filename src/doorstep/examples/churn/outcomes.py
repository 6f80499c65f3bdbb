"""What happened to the example's customers after their decisions, drawn from the true model.

The example's ground truth (see :func:`doorstep.examples.churn.churn_probability`) gives each
customer's churn probability. A customer who received an action churns with that probability
lowered by :data:`RETENTION_EFFECT` (the offer keeps 30% of those who would have left); everyone
else, the control group included, churns with the probability itself. So the true uplift is
known, and the monitoring report can be checked against it.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

import numpy as np
import polars as pl

from doorstep.examples.churn import churn_probability

__all__ = ["RETENTION_EFFECT", "simulate_outcomes", "true_uplift"]

RETENTION_EFFECT = 0.3
"""Share of would-be churners that an action keeps."""


def simulate_outcomes(
    customers: pl.DataFrame,
    treated: Mapping[str, bool],
    *,
    observed_at: datetime,
    seed: int = 11,
    effect: float = RETENTION_EFFECT,
) -> pl.DataFrame:
    """One outcome per customer of ``treated`` (customer id → whether an action reached them):
    ``customer_id``, ``churned`` (0/1) and ``observed_at``."""
    rows = customers.filter(pl.col("customer_id").is_in(list(treated)))
    acted = np.array([treated[c] for c in rows["customer_id"].to_list()], dtype=bool)
    probability = churn_probability(rows) * np.where(acted, 1 - effect, 1.0)
    churned = np.random.default_rng(seed).random(rows.height) < probability
    return pl.DataFrame(
        {
            "customer_id": rows["customer_id"],
            "churned": churned.astype(np.int64),
            "observed_at": [observed_at.isoformat()] * rows.height,
        }
    )


def true_uplift(
    customers: pl.DataFrame,
    would_act: Mapping[str, bool],
    effect: float = RETENTION_EFFECT,
) -> float:
    """The uplift the monitoring report estimates, known exactly here: among the customers the
    policy would act on outside the control group (customer id → whether an action reached
    them), the expected share of churn prevented."""
    rows = customers.filter(pl.col("customer_id").is_in(list(would_act)))
    if rows.height == 0:
        return 0.0
    acted = np.array([would_act[c] for c in rows["customer_id"].to_list()], dtype=bool)
    return float(effect * (churn_probability(rows) * acted).mean())
