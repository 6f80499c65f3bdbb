"""What a fairness report is made of: per group rates with intervals, and the differences and
ratios between groups (plain data: no numerical library).

The definitions are Fairlearn's (``fairlearn.metrics``), computed over the groups that are
large enough (``min_group``):

- **selection rate** of an action: the share of a group's decisions given that action;
- **demographic-parity difference**: the highest selection rate of a group minus the lowest;
  **ratio**: the lowest divided by the highest;
- **true / false positive rate**: of the decisions whose outcome was positive (negative), the
  share selected (``monitoring.threshold`` when set, else an action other than ``none``);
- **equalized-odds difference**: the larger of the true- and the false-positive-rate
  differences between groups;
- **calibration**: a group's mean score beside its observed positive rate.

A difference's interval is Newcombe's for the two groups furthest apart, a ratio's is Katz's
log interval for them: both are conditional on that pair (the choice of the pair is not part
of the interval).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from doorstep.core.stats.intervals import Interval

__all__ = ["AttributeFairness", "Disparity", "GroupFairness", "SELECTED"]

SELECTED = "selected"
"""Name of the binary selection the outcome rates use (an action other than ``none``, or the
score at or above ``monitoring.threshold``), beside the actions' own names."""


@dataclass(frozen=True)
class Disparity:
    """A difference or ratio between the two groups furthest apart (``None`` with fewer than
    two groups large enough)."""

    estimate: Interval
    high_group: str | None
    """The group with the highest rate."""
    low_group: str | None
    """The group with the lowest rate."""

    @classmethod
    def none(cls) -> Disparity:
        return cls(Interval.empty(), None, None)

    def as_dict(self) -> dict[str, Any]:
        return {
            **self.estimate.as_dict(),
            "high_group": self.high_group,
            "low_group": self.low_group,
        }


@dataclass(frozen=True)
class GroupFairness:
    """One group's decisions, selection rates and, where outcomes exist, error rates."""

    group: str
    decisions: int
    enough: bool
    """At least ``min_group`` decisions: its selection rates count in the differences."""
    selection: dict[str, Interval]
    """Selection rate of each action and of ``selected`` (Wilson intervals)."""
    labelled: int = 0
    positives: int = 0
    negatives: int = 0
    true_positive_rate: Interval = field(default_factory=Interval.empty)
    false_positive_rate: Interval = field(default_factory=Interval.empty)
    mean_score: Interval = field(default_factory=Interval.empty)
    """Mean score of the labelled decisions (normal-approximation interval)."""
    observed_rate: Interval = field(default_factory=Interval.empty)
    """Positive rate among the labelled decisions (Wilson interval)."""
    odds_enough: bool = False
    """At least ``min_group`` positives and negatives: its rates count in equalized odds."""

    def as_dict(self) -> dict[str, Any]:
        return {
            "group": self.group,
            "decisions": self.decisions,
            "enough": self.enough,
            "selection": {name: rate.as_dict() for name, rate in self.selection.items()},
            "labelled": self.labelled,
            "positives": self.positives,
            "negatives": self.negatives,
            "true_positive_rate": self.true_positive_rate.as_dict(),
            "false_positive_rate": self.false_positive_rate.as_dict(),
            "mean_score": self.mean_score.as_dict(),
            "observed_rate": self.observed_rate.as_dict(),
            "odds_enough": self.odds_enough,
        }


@dataclass(frozen=True)
class AttributeFairness:
    """Decisions grouped by one sensitive attribute (a field, or bands of one)."""

    attribute: str
    field: str
    min_group: int
    groups: tuple[GroupFairness, ...]
    overall: GroupFairness
    parity_difference: dict[str, Disparity]
    """Demographic-parity difference of each action and of ``selected``."""
    parity_ratio: dict[str, Disparity]
    equalized_odds_difference: Disparity
    true_positive_rate_difference: Disparity
    false_positive_rate_difference: Disparity
    outcomes: bool
    """Binary outcomes exist for the app (else the outcome rates are left empty)."""

    @property
    def too_few(self) -> tuple[str, ...]:
        """Groups below ``min_group`` decisions."""
        return tuple(g.group for g in self.groups if not g.enough)

    def as_dict(self) -> dict[str, Any]:
        return {
            "attribute": self.attribute,
            "field": self.field,
            "min_group": self.min_group,
            "too_few": list(self.too_few),
            "groups": [g.as_dict() for g in self.groups],
            "overall": self.overall.as_dict(),
            "demographic_parity_difference": {
                k: v.as_dict() for k, v in self.parity_difference.items()
            },
            "demographic_parity_ratio": {k: v.as_dict() for k, v in self.parity_ratio.items()},
            "equalized_odds_difference": self.equalized_odds_difference.as_dict(),
            "true_positive_rate_difference": self.true_positive_rate_difference.as_dict(),
            "false_positive_rate_difference": self.false_positive_rate_difference.as_dict(),
            "outcomes": self.outcomes,
        }
