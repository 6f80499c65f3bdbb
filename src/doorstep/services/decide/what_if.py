"""What would change a decision: the smallest single-feature changes, within the values seen in
the reference data, that flip its action. Fields the spec marks ``actionable: false`` (tenure,
age: facts acting cannot change) are never suggested.

For every feature, candidate values are taken from the reference sample (its distinct values, or
evenly spaced quantiles when there are many; a category's allowed values; a flag's other value).
All candidates of all features go through :func:`decide_batch` as ONE batch (no explanations),
so the answer costs one model call and one policy evaluation: a few milliseconds for tree
models. For each feature the candidate nearest to the current value that changes the action is
kept; features are ranked by how far the change goes across the feature's reference range.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import polars as pl

from doorstep.core.contract import frame_from_records
from doorstep.core.spec.models import FieldSpec
from doorstep.services.apps.loading import LoadedApp
from doorstep.services.decide.batch import decide_batch
from doorstep.types import Decision

__all__ = ["Change", "format_value", "what_would_change"]

CANDIDATES = 24
"""Most candidate values tried per numeric feature."""


@dataclass(frozen=True)
class Change:
    """One feature set to another value, and the decision it would get."""

    field: str
    label: str
    current: Any
    value: Any
    action: str
    score: float
    distance: float
    """How far the change goes: the share of the feature's reference range (numbers), 1 for a
    category or a flag."""

    def sentence(self, spec_field: FieldSpec) -> str:
        before = format_value(self.current, spec_field)
        after = format_value(self.value, spec_field)
        return f"{self.label}: {before} → {after} would make it {self.action}"


def format_value(value: Any, spec_field: FieldSpec) -> str:
    """A value as people read it, with its unit (``29.9 EUR``, ``12 days``, ``yes``)."""
    if value is None:
        return "—"
    if isinstance(value, bool):
        text = "yes" if value else "no"
    elif isinstance(value, float):
        text = f"{value:,.0f}" if value.is_integer() else f"{value:,.2f}"
    else:
        text = str(value)
    unit = spec_field.unit
    if unit is None:
        return text
    return f"{text}{unit}" if unit == "%" else f"{text} {unit}"


def what_would_change(app: LoadedApp, decision: Decision, *, top: int = 5) -> list[Change]:
    """Up to ``top`` single-feature changes that flip ``decision``'s action, smallest first.
    Empty when the app has no reference data or no change within its range flips the action."""
    if app.reference is None:
        return []
    fields = app.spec.feature_fields
    inputs = dict(decision.inputs)
    id_field = app.spec.inputs.id
    inputs.setdefault(id_field, decision.entity_id)
    tried: list[tuple[str, Any, float]] = []
    rows: list[dict[str, Any]] = [inputs]
    for name, spec_field in fields.items():
        if not spec_field.actionable:
            continue
        for value, distance in _candidates(app.reference, name, spec_field, inputs.get(name)):
            rows.append({**inputs, name: value})
            tried.append((name, value, distance))
    if not tried:
        return []
    batch = decide_batch(app, frame_from_records(rows, app.spec.inputs), explain=False)
    decided = batch.decisions.select("row", "action", "score").to_dict(as_series=False)
    outcome = {
        row: (action, score)
        for row, action, score in zip(
            decided["row"], decided["action"], decided["score"], strict=True
        )
    }
    baseline = outcome.get(1, (decision.action, decision.score))[0]
    best: dict[str, Change] = {}
    for index, (name, value, distance) in enumerate(tried, start=2):  # rows are numbered from 1
        result = outcome.get(index)
        if result is None or result[0] == baseline:
            continue
        known = best.get(name)
        if known is None or distance < known.distance:
            label = fields[name].label or name
            best[name] = Change(
                name, label, inputs.get(name), value, result[0], float(result[1]), distance
            )
    return sorted(best.values(), key=lambda c: (c.distance, c.field))[:top]


def _candidates(
    reference: pl.DataFrame, name: str, spec_field: FieldSpec, current: Any
) -> list[tuple[Any, float]]:
    """``(value, distance)`` pairs to try for one feature (the current value excluded)."""
    kind = spec_field.type
    if kind == "bool":
        return [] if current is None else [(not current, 1.0)]
    if kind == "category":
        return [(v, 1.0) for v in spec_field.values or [] if v != current]
    if kind not in ("int", "float") or name not in reference.columns:
        return []
    column = reference[name].drop_nulls().cast(pl.Float64)
    if column.is_empty():
        return []
    values = np.unique(column.to_numpy())
    if len(values) > CANDIDATES:
        values = np.unique(np.quantile(values, np.linspace(0.0, 1.0, CANDIDATES)))
    if kind == "int":
        values = np.unique(np.round(values))
    low, high = float(values[0]), float(values[-1])
    span = high - low if high > low else 1.0
    base = float(current) if isinstance(current, int | float) else None
    out: list[tuple[Any, float]] = []
    for raw in values:
        value = int(raw) if kind == "int" else float(raw)
        if base is not None and math.isclose(value, base):
            continue
        distance = abs(value - base) / span if base is not None else 1.0
        out.append((value, distance))
    return out
