"""What ROI against the control group returns: each group's outcomes, the uplift and its value,
per action too, and a conclusion in a sentence (computed by :mod:`doorstep.core.stats.roi`)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal, TypeAlias

from doorstep.core.stats.intervals import Interval

__all__ = [
    "ALPHA",
    "POWER",
    "ActionRoi",
    "Conclusion",
    "Goal",
    "OutcomeKind",
    "RoiGroup",
    "RoiReport",
]

ALPHA = 0.05
POWER = 0.8

Conclusion: TypeAlias = Literal["uplift", "harm", "no_uplift", "inconclusive", "too_small"]
OutcomeKind: TypeAlias = Literal["label", "value"]
"""``label``: outcome rates are compared; ``value``: mean outcomes."""
Goal: TypeAlias = Literal["decrease", "increase"]


@dataclass(frozen=True, slots=True)
class RoiGroup:
    """A group's decisions with a known outcome: how many, and their positive-outcome rate
    (labels: ``outcome_rate``, Wilson) or mean outcome (values: ``mean_outcome``)."""

    outcomes: int
    rate: Interval

    def as_dict(self, kind: OutcomeKind) -> dict[str, Any]:
        name = "outcome_rate" if kind == "label" else "mean_outcome"
        return {"outcomes": self.outcomes, name: self.rate.as_dict()}


@dataclass(frozen=True, slots=True)
class ActionRoi:
    """One action's treated and control groups, uplift, actions taken and economics."""

    treated: RoiGroup
    control: RoiGroup
    uplift: Interval
    taken: int
    value_per_outcome: float | None
    cost_per_action: float

    def as_dict(self, kind: OutcomeKind) -> dict[str, Any]:
        return {
            "treated": self.treated.as_dict(kind),
            "control": self.control.as_dict(kind),
            "uplift": self.uplift.as_dict(),
            "taken": self.taken,
            "value_per_outcome": self.value_per_outcome,
            "cost_per_action": self.cost_per_action,
        }


@dataclass(frozen=True, slots=True)
class RoiReport:
    """Treated versus control: the groups, the uplift and its value, and the conclusion."""

    kind: OutcomeKind
    """``label`` (outcome rates) or ``value`` (mean outcomes); ``outcome`` in the JSON."""
    goal: Goal
    treated: RoiGroup
    control: RoiGroup
    uplift: Interval
    value: Interval
    actions_taken: int
    cost: float
    conclusion: Conclusion
    message: str
    needed_control_outcomes: int | None
    actions: Mapping[str, ActionRoi]
    """By action name, sorted."""
    alpha: float = ALPHA
    power: float = POWER

    def as_dict(self) -> dict[str, Any]:
        return {
            "outcome": self.kind,
            "goal": self.goal,
            "treated": self.treated.as_dict(self.kind),
            "control": self.control.as_dict(self.kind),
            "uplift": self.uplift.as_dict(),
            "value": self.value.as_dict(),
            "actions_taken": self.actions_taken,
            "cost": self.cost,
            "conclusion": self.conclusion,
            "message": self.message,
            "needed_control_outcomes": self.needed_control_outcomes,
            "power": {"alpha": self.alpha, "power": self.power},
            "actions": {name: action.as_dict(self.kind) for name, action in self.actions.items()},
        }
