"""Feedback as training data: decisions joined with their inputs, scores, actions, reviews and
outcomes, written to Parquet, CSV or JSON Lines for the next training run.

Streaming: the store yields a page of decisions at a time (oldest first) and each page is
written before the next is read, so memory stays flat whatever the history. Inputs marked
``pii: true``, and ``sensitive: true`` ones that are not model features, are left out unless
asked for.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import polars as pl

from doorstep.core.outcomes import OutcomeSemantics, outcome_semantics
from doorstep.core.spec.models import FieldSpec, Spec
from doorstep.engines.files import RecordWriter
from doorstep.store.feedback import TRAINING_COLUMNS
from doorstep.store.protocols import OutcomeStore

__all__ = ["ExportSummary", "export_training_data", "training_schema"]

_TYPES: dict[str, pl.DataType] = {
    "int": pl.Int64(),
    "float": pl.Float64(),
    "bool": pl.Boolean(),
    "category": pl.String(),
    "string": pl.String(),
    "datetime": pl.String(),  # as sent, ISO 8601
}
_TIME = pl.Datetime("us", "UTC")


@dataclass
class ExportSummary:
    path: Path
    rows: int = 0
    labelled: int = 0
    columns: int = 0
    seconds: float = 0.0


def _left_out(field: FieldSpec) -> bool:
    """Personal data, and sensitive attributes the model does not take (a model's own inputs
    stay: the next training run needs them)."""
    return field.pii or (field.sensitive and not field.feature)


def _input_fields(spec: Spec, include_pii: bool) -> dict[str, pl.DataType]:
    return {
        name: _TYPES[f.type]
        for name, f in spec.inputs.fields.items()
        if include_pii or not _left_out(f)
    }


def _outcome_column(spec: Spec, semantics: OutcomeSemantics, taken: set[str]) -> str:
    name = semantics.field
    return f"outcome_{name}" if name in taken else name


def training_schema(spec: Spec, *, include_pii: bool = False) -> dict[str, pl.DataType]:
    """The columns written, in order: the decision, its inputs, what was done, the outcome."""
    semantics = outcome_semantics(spec)
    schema: dict[str, pl.DataType] = {
        "decision_id": pl.String(),
        spec.inputs.id: pl.String(),
        "decided_at": _TIME,
        "model_version": pl.String(),
    }
    schema.update(_input_fields(spec, include_pii))
    schema.update(
        {
            "score": pl.Float64(),
            "predicted_class": pl.String(),
            "action": pl.String(),
            "rule": pl.String(),
            "review": pl.Boolean(),
            "control": pl.Boolean(),
            "status": pl.String(),
            "final_action": pl.String(),
            "treated": pl.Boolean(),
            "review_verdict": pl.String(),
            "reviewed_at": _TIME,
        }
    )
    if semantics.kind == "value":
        kind: pl.DataType = pl.Float64()
    elif semantics.binary:
        kind = pl.Int8()
    else:
        kind = pl.String()
    schema[_outcome_column(spec, semantics, set(schema))] = kind
    schema["outcome_observed_at"] = _TIME
    schema["outcome_matched_by"] = pl.String()
    return schema


def _frame(rows: list[Any], spec: Spec, schema: dict[str, pl.DataType]) -> pl.DataFrame:
    semantics = outcome_semantics(spec)
    columns = {name: [row[i] for row in rows] for i, name in enumerate(TRAINING_COLUMNS)}
    inputs = columns["inputs"]
    data: dict[str, list[Any]] = {
        "decision_id": columns["decision_id"],
        spec.inputs.id: columns["entity_id"],
        "decided_at": columns["created_at"],
        "model_version": columns["model_version"],
    }
    for name in schema:
        if name in spec.inputs.fields:
            data[name] = [(values or {}).get(name) for values in inputs]
    for name in ("score", "predicted_class", "action", "rule", "review", "control", "status"):
        data[name] = columns[name]
    data["final_action"] = columns["final_action"]
    data["treated"] = [
        not control and action != "none"
        for control, action in zip(columns["control"], columns["action"], strict=True)
    ]
    data["review_verdict"] = columns["review_verdict"]
    data["reviewed_at"] = columns["reviewed_at"]
    outcome_name = list(schema)[-3]
    if semantics.kind == "value":
        data[outcome_name] = columns["outcome_value"]
    elif semantics.binary:
        data[outcome_name] = [
            None if label is None else int(label == semantics.positive)
            for label in columns["outcome_label"]
        ]
    else:
        data[outcome_name] = columns["outcome_label"]
    data["outcome_observed_at"] = columns["outcome_observed_at"]
    data["outcome_matched_by"] = columns["outcome_matched_by"]
    ordered = {name: data[name] for name in schema}
    return pl.DataFrame(ordered, schema=schema, strict=False)


def export_training_data(
    spec: Spec,
    store: OutcomeStore,
    out: Path,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    labelled_only: bool = False,
    include_pii: bool = False,
    output_format: str | None = None,
    chunk_rows: int = 10_000,
) -> ExportSummary:
    """Write the app's decisions of ``[since, until)`` with their reviews and outcomes."""
    started = time.perf_counter()
    schema = training_schema(spec, include_pii=include_pii)
    summary = ExportSummary(path=out, columns=len(schema))
    outcome_name = list(schema)[-3]
    with RecordWriter(out, schema, fmt=output_format) as writer:
        for rows in store.iter_training_rows(
            spec.app.name,
            since=since,
            until=until,
            labelled_only=labelled_only,
            chunk_rows=chunk_rows,
        ):
            frame = _frame(rows, spec, schema)
            writer.write(frame)
            summary.rows += frame.height
            summary.labelled += frame.height - frame[outcome_name].null_count()
    summary.seconds = time.perf_counter() - started
    return summary
