"""The demo's outcomes: what happened to the churn example's decided customers, drawn from the
example's true model (see :mod:`doorstep.examples.churn.outcomes`), written as an outcome file
that ``doorstep outcomes import`` reads."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import polars as pl

from doorstep.examples.churn.outcomes import RETENTION_EFFECT, simulate_outcomes, true_uplift
from doorstep.store.feedback import TRAINING_COLUMNS
from doorstep.store.protocols import OutcomeStore

__all__ = ["DemoOutcomes", "write_demo_outcomes"]

_TAKEN = {"decided": "action", "approved": "final_action", "overridden": "final_action"}


@dataclass(frozen=True)
class DemoOutcomes:
    path: Path
    rows: int
    treated: int
    """Customers an action reached."""
    true_uplift: float
    """The uplift the report should find (its interval covers it 95% of the time)."""


def write_demo_outcomes(
    app: str,
    store: OutcomeStore,
    customers: Path,
    out: Path,
    *,
    now: datetime | None = None,
    seed: int = 11,
) -> DemoOutcomes:
    """One outcome per customer decided in the store (its latest decision), observed now;
    an existing ``out`` is kept as it is."""
    column = {name: i for i, name in enumerate(TRAINING_COLUMNS)}
    acted: dict[str, bool] = {}
    would_act: dict[str, bool] = {}
    for rows in store.iter_training_rows(app):
        for row in rows:
            entity = row[column["entity_id"]]
            taken_from = _TAKEN.get(row[column["status"]])
            taken = row[column[taken_from]] if taken_from else "none"
            acted[entity] = taken not in (None, "none")
            if row[column["action"]] != "none" and not row[column["control"]]:
                would_act[entity] = acted[entity]
            else:
                would_act.pop(entity, None)
    frame = pl.read_parquet(customers)
    if out.exists():  # written by an earlier run: importing it again records nothing twice
        written = pl.read_csv(out).height
    else:
        outcomes = simulate_outcomes(frame, acted, observed_at=now or datetime.now(UTC), seed=seed)
        outcomes.write_csv(out)
        written = outcomes.height
    return DemoOutcomes(
        path=out,
        rows=written,
        treated=sum(acted.values()),
        true_uplift=true_uplift(frame, would_act, RETENTION_EFFECT),
    )
