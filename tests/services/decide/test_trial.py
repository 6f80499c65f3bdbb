"""What-if trials: changed inputs decided again within the reference range, and suggestions
that leave facts (``actionable: false``) alone."""

from __future__ import annotations

from datetime import UTC, datetime

import polars as pl
import pytest

from doorstep.core.contract import frame_from_records
from doorstep.examples.churn import generate_customers
from doorstep.services.apps.loading import LoadedApp
from doorstep.services.decide.batch import decide_batch
from doorstep.services.decide.trial import editable_fields, try_inputs
from doorstep.services.decide.what_if import what_would_change
from doorstep.types import Decision


@pytest.fixture(scope="module")
def decisions(churn_loaded_app: LoadedApp) -> list[Decision]:
    customers = generate_customers(40, seed=11)
    batch = decide_batch(churn_loaded_app, customers, explain=True)
    out = []
    id_field = churn_loaded_app.spec.inputs.id
    for row in batch.decisions.to_dicts():
        inputs = customers.filter(pl.col(id_field) == row["entity_id"]).to_dicts()[0]
        out.append(
            Decision(
                id=f"d-{row['row']}",
                app="churn",
                entity_id=row["entity_id"],
                model_version="v",
                model_hash="h",
                inputs=inputs,
                score=row["score"],
                action=row["action"],
                rule=row["rule"],
                review=row["review"],
                control=row["control"],
                status=row["status"],
                reasons=row["reasons"],
                reasons_text=row["reasons_text"],
                created_at=datetime.now(UTC),
            )
        )
    return out


def test_a_trial_decides_the_changed_inputs_as_a_batch_would(
    churn_loaded_app: LoadedApp, decisions: list[Decision]
) -> None:
    record = decisions[0]
    trial = try_inputs(churn_loaded_app, record, {"support_tickets_30d": "6", "plan": "premium"})
    expected_inputs = {**record.inputs, "support_tickets_30d": 6, "plan": "premium"}
    frame = frame_from_records([expected_inputs], churn_loaded_app.spec.inputs)
    [expected] = decide_batch(churn_loaded_app, frame, explain=True).decisions.to_dicts()
    assert trial.score == pytest.approx(expected["score"])
    assert (trial.action, trial.rule) == (expected["action"], expected["rule"])
    assert [r["feature"] for r in trial.reasons] == [r["feature"] for r in expected["reasons"]]
    assert set(trial.changed) == {"support_tickets_30d"} | (
        {"plan"} if record.inputs["plan"] != "premium" else set()
    )
    assert trial.problems == {}


def test_values_outside_the_reference_range_or_the_categories_are_refused_per_field(
    churn_loaded_app: LoadedApp, decisions: list[Decision]
) -> None:
    record = decisions[1]
    fields = {f.name: f for f in editable_fields(churn_loaded_app, record)}
    high = fields["support_tickets_30d"].high
    assert high is not None
    reference = churn_loaded_app.reference
    assert reference is not None and high == reference["support_tickets_30d"].max()
    trial = try_inputs(
        churn_loaded_app,
        record,
        {"support_tickets_30d": str(int(high) + 1), "plan": "gold", "logins_30d": "2.5"},
    )
    assert set(trial.problems) == {"support_tickets_30d", "plan", "logins_30d"}
    assert "reference data's range" in trial.problems["support_tickets_30d"]
    assert "basic, plus, premium" in trial.problems["plan"]
    assert trial.changed == [] and trial.score == pytest.approx(record.score)


def test_suggestions_never_change_a_fact(
    churn_loaded_app: LoadedApp, decisions: list[Decision]
) -> None:
    assert not churn_loaded_app.spec.inputs.fields["tenure_months"].actionable
    suggested = {c.field for d in decisions for c in what_would_change(churn_loaded_app, d)}
    assert suggested and "tenure_months" not in suggested
