"""What an outcome means for an app: label or value, which label is positive, how long after a
decision an outcome still belongs to it, and which way acting should move it.

Pure: the spec's ``monitoring.outcome`` section in, :class:`OutcomeSemantics` out. Labels are
compared in a canonical text form, so ``1``, ``1.0``, ``true`` and ``True`` are one label.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from doorstep.core.spec.models import Spec

__all__ = [
    "DURATION_UNITS",
    "OutcomeSemantics",
    "canonical_label",
    "outcome_semantics",
    "parse_duration",
]

DURATION_UNITS = {"m": 60, "h": 3_600, "d": 86_400, "w": 604_800}
"""Seconds per unit of a duration such as ``30d``: minutes, hours, days, weeks."""
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([mhdw])\s*$")
_TRUE = {"true", "yes"}
_FALSE = {"false", "no"}


def parse_duration(text: str) -> timedelta:
    """``30d`` → 30 days; ``12h``, ``2w``, ``90m`` alike. Raises ``ValueError`` otherwise."""
    match = _DURATION.match(str(text))
    if match is None:
        raise ValueError(
            f"expected a duration such as 30d, 12h or 2w (m: minutes, h: hours, d: days, "
            f"w: weeks), got {text!r}"
        )
    seconds = float(match.group(1)) * DURATION_UNITS[match.group(2)]
    if seconds <= 0:
        raise ValueError(f"a duration must be longer than zero, got {text!r}")
    return timedelta(seconds=seconds)


def canonical_label(value: Any) -> str | None:
    """A label as text: booleans and ``true``/``false`` become ``1``/``0``, whole numbers lose
    their ``.0``, text is stripped. ``None`` (and NaN, and blank text) is no label."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return None
        return str(int(value)) if value.is_integer() else repr(value)
    text = str(value).strip()
    if not text:
        return None
    lowered = text.lower()
    if lowered in _TRUE:
        return "1"
    if lowered in _FALSE:
        return "0"
    try:
        number = float(text)
    except ValueError:
        return text
    if math.isfinite(number) and number.is_integer() and re.fullmatch(r"[+-]?\d+(\.0*)?", text):
        return str(int(number))
    return text


@dataclass(frozen=True)
class OutcomeSemantics:
    """How outcomes of one app are read (resolved from the spec with its defaults)."""

    kind: Literal["label", "value"]
    """``label``: a class (binary: positive or negative); ``value``: a number (regression)."""
    horizon: timedelta
    """An outcome keyed by entity belongs to the entity's latest decision made at most this long
    before the outcome was observed."""
    field: str
    """Column of outcome files (and key of API bodies) holding the label or value."""
    goal: Literal["decrease", "increase"]
    """What acting should do to the positive rate (labels) or the value: ``decrease`` for churn,
    default or failure; ``increase`` for a purchase or a renewal."""
    positive: str | None = None
    """Canonical text of the positive label (binary and, optionally, multiclass)."""
    negative: str | None = None
    """Canonical text of the negative label (binary only)."""

    @property
    def binary(self) -> bool:
        return self.kind == "label" and self.negative is not None

    def is_positive(self, label: str) -> bool:
        return label == self.positive


def outcome_semantics(spec: Spec) -> OutcomeSemantics:
    """The spec's ``monitoring.outcome`` with its defaults filled in. Raises ``ValueError``
    (with the key at fault as its second argument) when the section contradicts the model."""
    section = spec.monitoring.outcome
    task = spec.model.task
    kind = section.type or ("value" if task == "regression" else "label")
    if task == "regression" and kind == "label":
        raise ValueError("a regression model's outcomes are values: use type: value", "type")
    if task != "regression" and kind == "value":
        raise ValueError(f"a {task} model's outcomes are labels: use type: label", "type")
    if kind == "value":
        for key in ("positive", "negative"):
            if getattr(section, key) is not None:
                raise ValueError(f"{key!r} applies to label outcomes, not values", key)
        return OutcomeSemantics(
            kind="value",
            horizon=parse_duration(section.horizon),
            field=section.field or "value",
            goal=section.goal,
        )
    positive = canonical_label(section.positive)
    negative = canonical_label(section.negative)
    if task == "binary":
        if positive is None:
            declared = canonical_label(spec.model.positive_class)
            positive = declared if declared is not None else "1"
        if negative is None:
            if positive != "1":
                raise ValueError(
                    f"name the label of a negative outcome: the positive label is {positive!r}, "
                    "so the negative one cannot be assumed to be 0",
                    "negative",
                )
            negative = "0"
        if negative == positive:
            raise ValueError(f"'positive' and 'negative' are both {positive!r}", "negative")
    elif negative is not None:
        raise ValueError("'negative' applies to binary models only", "negative")
    return OutcomeSemantics(
        kind="label",
        horizon=parse_duration(section.horizon),
        field=section.field or "label",
        goal=section.goal,
        positive=positive,
        negative=negative,
    )
