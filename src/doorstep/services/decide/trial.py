"""A what-if trial: a decision's inputs with some values changed by a person, decided again
(score, action, rule and reasons) without recording anything.

Numbers are kept within the range of the app's reference data (else the spec's ``min``/``max``),
categories within their allowed values; a value outside is refused on its field and the trial
runs with the decision's own value there. One record through :func:`decide_batch` with
explanations: a few milliseconds for tree models.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import polars as pl

from doorstep.core.contract import frame_from_records
from doorstep.core.spec.models import FieldSpec
from doorstep.services.apps.loading import LoadedApp
from doorstep.services.decide.batch import decide_batch
from doorstep.types import Decision

__all__ = ["EditableField", "Trial", "editable_fields", "try_inputs"]


@dataclass(frozen=True)
class EditableField:
    """One input a person may change in a trial, with the values allowed."""

    name: str
    label: str
    type: str
    value: Any
    """The decision's own value."""
    low: float | None = None
    high: float | None = None
    values: list[str] = field(default_factory=list)
    """A category's allowed values."""
    actionable: bool = True
    unit: str | None = None


@dataclass(frozen=True)
class Trial:
    """The decision the changed inputs would get."""

    inputs: dict[str, Any]
    score: float
    action: str
    rule: str | None
    reasons: list[dict[str, Any]]
    changed: list[str]
    """Fields whose value differs from the decision's."""
    problems: dict[str, str]
    """Field → why the value asked for was not used."""


def editable_fields(
    app: LoadedApp, decision: Decision, *, hidden: frozenset[str] = frozenset()
) -> list[EditableField]:
    """The model's features a trial may change (minus ``hidden`` ones), with their ranges."""
    out = []
    for name, spec_field in app.spec.feature_fields.items():
        if name in hidden or spec_field.type not in ("int", "float", "bool", "category"):
            continue
        low, high = _range(app.reference, name, spec_field)
        out.append(
            EditableField(
                name=name,
                label=spec_field.label or name,
                type=spec_field.type,
                value=decision.inputs.get(name),
                low=low,
                high=high,
                values=list(spec_field.values or []),
                actionable=spec_field.actionable,
                unit=spec_field.unit,
            )
        )
    return out


def try_inputs(
    app: LoadedApp,
    decision: Decision,
    edits: Mapping[str, str],
    *,
    hidden: frozenset[str] = frozenset(),
) -> Trial:
    """Decide ``decision``'s inputs with ``edits`` (field → text as typed) applied."""
    inputs = dict(decision.inputs)
    inputs.setdefault(app.spec.inputs.id, decision.entity_id)
    problems: dict[str, str] = {}
    changed: list[str] = []
    for spec in editable_fields(app, decision, hidden=hidden):
        text = edits.get(spec.name)
        if text is None:
            continue
        try:
            value = _parsed(spec, text)
        except ValueError as error:
            problems[spec.name] = str(error)
            continue
        if value != inputs.get(spec.name):
            inputs[spec.name] = value
            changed.append(spec.name)
    batch = decide_batch(app, frame_from_records([inputs], app.spec.inputs), explain=True)
    if batch.decisions.is_empty():  # the contract refused the record: say so on its fields
        for row in batch.rejects.to_dicts():
            problems.setdefault(str(row.get("field")), str(row.get("message") or row))
        return Trial(
            inputs,
            decision.score,
            decision.action,
            decision.rule,
            [dict(r) for r in decision.reasons or []],
            changed,
            problems,
        )
    row = batch.decisions.row(0, named=True)
    reasons = [dict(r) for r in row.get("reasons") or []]
    return Trial(
        inputs, float(row["score"]), str(row["action"]), row["rule"], reasons, changed, problems
    )


def _range(
    reference: pl.DataFrame | None, name: str, spec: FieldSpec
) -> tuple[float | None, float | None]:
    """The reference data's range of a number (else the spec's ``min``/``max``)."""
    if spec.type not in ("int", "float"):
        return None, None
    if reference is not None and name in reference.columns:
        column = reference[name].drop_nulls().cast(pl.Float64)
        if not column.is_empty():
            low, high = column.min(), column.max()
            assert isinstance(low, float) and isinstance(high, float)
            return low, high
    return spec.min, spec.max


def _parsed(spec: EditableField, text: str) -> Any:
    text = text.strip()
    if spec.type == "category":
        if text not in spec.values:
            raise ValueError(f"{spec.label} must be one of {', '.join(spec.values)}, got {text!r}")
        return text
    if spec.type == "bool":
        if text.lower() not in ("true", "false"):
            raise ValueError(f"{spec.label} must be yes or no, got {text!r}")
        return text.lower() == "true"
    try:
        number = float(text)
    except ValueError:
        raise ValueError(f"{spec.label} must be a number, got {text!r}") from None
    if not math.isfinite(number) or (spec.type == "int" and not number.is_integer()):
        raise ValueError(f"{spec.label} must be a whole number, got {text!r}")
    low, high = spec.low, spec.high
    if (low is not None and number < low) or (high is not None and number > high):
        raise ValueError(
            f"{spec.label} must be within the reference data's range, {_shown(low)} to "
            f"{_shown(high)}, got {text}"
        )
    return int(number) if spec.type == "int" else number


def _shown(value: float | None) -> str:
    if value is None:
        return "any"
    return f"{value:,.0f}" if value.is_integer() else f"{value:,.2f}"
