"""OpenAPI response models of ``GET /v1/apps/{app}/fairness`` (the JSON of
:meth:`doorstep.services.monitor.fairness.FairnessReport.to_dict`; see docs/fairness.md)."""

from __future__ import annotations

from pydantic import BaseModel

from doorstep.web.monitoring_schemas import IntervalOut

__all__ = ["DisparityOut", "FairnessGroupOut", "FairnessAttributeOut", "FairnessOut"]


class DisparityOut(IntervalOut):
    """A difference or ratio between the two groups furthest apart, with its 95% interval."""

    high_group: str | None
    """The group with the highest rate (``null`` with fewer than two groups large enough)."""
    low_group: str | None


class FairnessGroupOut(BaseModel):
    """One group's decisions, selection rates and, with outcomes, error rates."""

    group: str
    decisions: int
    enough: bool
    """At least ``min_group`` decisions (else "too few": left out of the disparities)."""
    selection: dict[str, IntervalOut]
    """Selection rate of ``selected`` and of each action."""
    labelled: int
    positives: int
    negatives: int
    true_positive_rate: IntervalOut
    false_positive_rate: IntervalOut
    mean_score: IntervalOut
    observed_rate: IntervalOut
    odds_enough: bool


class FairnessAttributeOut(BaseModel):
    """Decisions grouped by one sensitive attribute (a field, or bands of one)."""

    attribute: str
    field: str
    min_group: int
    too_few: list[str]
    groups: list[FairnessGroupOut]
    overall: FairnessGroupOut
    demographic_parity_difference: dict[str, DisparityOut]
    demographic_parity_ratio: dict[str, DisparityOut]
    equalized_odds_difference: DisparityOut
    true_positive_rate_difference: DisparityOut
    false_positive_rate_difference: DisparityOut
    outcomes: bool


class FairnessOut(BaseModel):
    """Fairness of an app's decisions in ``[since, until)`` by its sensitive attributes."""

    app: str
    since: str
    until: str
    generated_at: str
    version: str | None
    decisions: int
    labelled: int
    outcomes: bool
    selected: str
    """What ``selected`` means: an action other than ``none``, or the score at or above
    ``monitoring.threshold``."""
    min_group: int
    attributes: list[FairnessAttributeOut]
