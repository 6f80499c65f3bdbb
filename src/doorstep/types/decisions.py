"""Decisions: a batch travels as a :class:`polars.DataFrame` with the columns of
:data:`DECISION_SCHEMA`; a single decision, as a :class:`Decision` with its :class:`Reason` s.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

import polars as pl

from doorstep.core.contract import REJECT_SCHEMA as CONTRACT_REJECT_SCHEMA
from doorstep.core.reasons import REASON_DTYPE

__all__ = ["DECISION_SCHEMA", "REJECT_SCHEMA", "Decision", "DecisionStatus", "Reason"]

DecisionStatus = Literal["decided", "pending_review", "held_out"]
"""``decided``: the action goes ahead; ``pending_review``: a person decides first;
``held_out``: in the control group — decided, recorded, never acted on."""

DECISION_SCHEMA: dict[str, pl.DataType] = {
    "row": pl.Int64(),
    "entity_id": pl.String(),
    "score": pl.Float64(),
    "action": pl.String(),
    "rule": pl.String(),
    "review": pl.Boolean(),
    "control": pl.Boolean(),
    "status": pl.String(),
    "reasons_text": pl.String(),
    "reasons": REASON_DTYPE,
    "model_version": pl.String(),
    "model_hash": pl.String(),
}
"""Columns of a decisions batch, in order (multiclass apps add ``predicted_class`` after
``score``). ``row`` is the 1-based record number in the input; ``rule`` the name of the rule
that matched (null when the default applied); reasons are null for unexplained decisions."""

# One row per broken rule of a rejected record; defined by the input contract.
REJECT_SCHEMA = CONTRACT_REJECT_SCHEMA


@dataclass(frozen=True)
class Reason:
    """One feature's signed contribution, with its business label and a sentence."""

    feature: str
    label: str
    value: str
    contribution: float
    """In the model's link space (log-odds for most classifiers)."""
    effect: float
    """Points of probability (classifiers) or target units (regression)."""
    sentence: str


@dataclass(frozen=True)
class Decision:
    """One scored record: what the policy chose for it, and why."""

    entity_id: str
    score: float
    action: str
    rule: str | None
    review: bool
    control: bool
    status: DecisionStatus
    model_version: str
    model_hash: str
    reasons: list[Reason] = field(default_factory=list)
    predicted_class: str | None = None

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> Decision:
        """Build from one row of a decisions batch (``DataFrame.iter_rows(named=True)``)."""
        return cls(
            entity_id=row["entity_id"],
            score=row["score"],
            action=row["action"],
            rule=row["rule"],
            review=row["review"],
            control=row["control"],
            status=row["status"],
            model_version=row["model_version"],
            model_hash=row["model_hash"],
            reasons=[Reason(**r) for r in row["reasons"] or []],
            predicted_class=row.get("predicted_class"),
        )
