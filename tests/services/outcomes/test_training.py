"""Training data export: inputs, scores, actions, reviews and outcomes joined, streamed."""

from __future__ import annotations

import tracemalloc
from datetime import timedelta
from pathlib import Path

import polars as pl
import pytest
from tests.services.monitor.test_report import START
from tests.store.factories import decision

from doorstep.core.spec.loader import parse_spec
from doorstep.core.spec.models import Spec
from doorstep.services.outcomes.ingest import record_outcomes
from doorstep.services.outcomes.training import export_training_data, training_schema
from doorstep.store import RecordRequest, Store, Verdict

SPEC = """\
app: {name: churn, owner: maria@example.com}
model: {path: model.lgb.txt, task: binary}
inputs:
  id: customer_id
  fields:
    tenure_months: {type: int, min: 0}
    plan: {type: category, values: [basic, plus, premium]}
    monthly_spend: {type: float}
    email: {type: string, pii: true, required: false, feature: false}
policy:
  rules: [{when: "score >= 0.5", action: retention_offer, review: true}]
actions:
  retention_offer: {value: 240, cost: 30}
monitoring:
  outcome: {field: churned}
"""
NOW = START + timedelta(days=30)


def spec() -> Spec:
    return parse_spec(SPEC, file="doorstep.yaml", env={}).spec


def seed(store: Store, n: int) -> list[str]:
    rows = [decision(i, created_at=START + timedelta(minutes=i)) for i in range(n)]
    rows[0] = decision(0, created_at=START, status="pending_review")
    rows[1] = decision(1, created_at=START + timedelta(minutes=1), status="held_out")
    for start in range(0, n, 5_000):
        store.record([RecordRequest(rows[start : start + 5_000])], actor="t")
    store.review(Verdict(rows[0].id, "override", "already on a discount", "key:ana", action="none"))
    body = [
        {"decision_id": rows[i].id, "churned": i % 2, "observed_at": "2025-03-10T00:00:00Z"}
        for i in range(0, n, 2)
    ]
    for start in range(0, len(body), 5_000):
        _, errors = record_outcomes(spec(), store, body[start : start + 5_000], actor="t", now=NOW)
        assert errors == []
    return [r.id for r in rows]


@pytest.mark.parametrize("fmt", ["parquet", "csv"])
def test_export_joins_everything_oldest_first(store: Store, tmp_path: Path, fmt: str) -> None:
    ids = seed(store, 10)
    out = tmp_path / f"training.{fmt}"
    summary = export_training_data(spec(), store, out, chunk_rows=3)
    assert (summary.rows, summary.labelled) == (10, 5)
    frame = pl.read_parquet(out) if fmt == "parquet" else pl.read_csv(out, try_parse_dates=True)
    assert frame.columns == list(training_schema(spec()))
    assert "email" not in frame.columns  # personal data stays out by default
    assert frame["decision_id"].to_list() == ids
    first = frame.row(0, named=True)
    assert first["customer_id"] == "C-0" and first["tenure_months"] == 0
    assert first["plan"] == "basic" and first["monthly_spend"] == 12.5
    assert first["review_verdict"] == "override" and first["final_action"] == "none"
    assert first["status"] == "overridden" and first["treated"] is True
    assert first["churned"] == 0 and first["outcome_matched_by"] == "decision"
    second = frame.row(1, named=True)
    assert second["control"] is True and second["treated"] is False
    assert second["churned"] is None and second["review_verdict"] is None
    assert frame["churned"].to_list()[2:6] == [0, None, 0, None]
    if fmt == "parquet":
        assert frame.schema["churned"] == pl.Int8 and frame.schema["decided_at"] == pl.Datetime(
            "us", "UTC"
        )


def test_export_options(store: Store, tmp_path: Path) -> None:
    ids = seed(store, 10)
    out = tmp_path / "labelled.parquet"
    summary = export_training_data(
        spec(),
        store,
        out,
        labelled_only=True,
        include_pii=True,
        since=START + timedelta(minutes=2),
    )
    frame = pl.read_parquet(out)
    assert summary.rows == 4 and frame["decision_id"].to_list() == ids[2::2]
    assert frame["email"].to_list() == [None] * 4  # included (the factory leaves it empty)
    assert frame["churned"].null_count() == 0


def test_export_memory_does_not_grow_with_the_history(tmp_path: Path) -> None:
    from doorstep.store import open_store

    peaks = []
    for n in (4_000, 16_000):
        store = open_store(f"sqlite:///{tmp_path / f'{n}.db'}")
        try:
            seed(store, n)
            tracemalloc.start()
            export_training_data(spec(), store, tmp_path / f"{n}.parquet", chunk_rows=1_000)
            peaks.append(tracemalloc.get_traced_memory()[1])
            tracemalloc.stop()
        finally:
            store.close()
    assert peaks[1] < 1.5 * peaks[0], peaks  # four times the rows, about the same peak


def test_schema_names_the_outcome_after_the_spec_and_avoids_clashes() -> None:
    schema = training_schema(spec())
    assert list(schema)[-3:] == ["churned", "outcome_observed_at", "outcome_matched_by"]
    clash = parse_spec(
        SPEC.replace("field: churned", "field: plan_label").replace(
            "    plan:", "    plan_label: {type: string, required: false}\n    plan:"
        ),
        file="d.yaml",
        env={},
    ).spec
    assert "outcome_plan_label" in training_schema(clash)


def test_sensitive_inputs_the_model_does_not_take_are_left_out_like_pii() -> None:
    text = SPEC.replace(
        "    email:",
        "    region: {type: category, values: [north, south], sensitive: true}\n"
        "    age: {type: int, sensitive: true, feature: false, required: false}\n"
        "    email:",
    )
    sensitive = parse_spec(text, file="d.yaml", env={}).spec
    kept = training_schema(sensitive)
    assert "region" in kept  # a model feature: the next training run needs it
    assert "age" not in kept and "email" not in kept
    everything = training_schema(sensitive, include_pii=True)
    assert "age" in everything and "email" in everything
