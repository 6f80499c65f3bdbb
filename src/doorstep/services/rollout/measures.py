"""What backtests and comparisons measure for each side: live quality from labelled scores and
the expected value of a policy's actions under the uplift measured against the control group.

Quality reuses :mod:`doorstep.core.stats.quality` (sorted here, since rows arrive by time);
the difference of two sides uses :mod:`doorstep.core.stats.paired`.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import polars as pl

from doorstep.core.outcomes import OutcomeSemantics
from doorstep.core.spec.models import Spec
from doorstep.core.stats.intervals import Interval
from doorstep.core.stats.paired import (
    AucComparison,
    paired_auc_difference,
    paired_mean_difference,
    unpaired_auc_difference,
)
from doorstep.core.stats.quality import BinaryQuality, MulticlassQuality, RegressionQuality
from doorstep.core.stats.quality_report import QualityReport
from doorstep.core.stats.roi import ActionEconomics

__all__ = [
    "Difference",
    "ExpectedValue",
    "LabelledScores",
    "compare_quality",
    "economics_of",
    "expected_value",
    "outcome_frame",
    "quality_of",
    "taken_action",
]

Floats = npt.NDArray[np.float64]


@dataclass
class LabelledScores:
    """One side's labelled decisions, column by column (a few numbers per decision)."""

    scores: list[Floats]
    predicted: list[npt.NDArray[np.bool_]]
    classes: list[npt.NDArray[np.str_]]
    outcomes: list[Floats]
    """1.0/0.0 for a positive/negative label, the value for regression, NaN otherwise."""
    labels: list[npt.NDArray[np.str_]]

    @classmethod
    def empty(cls) -> LabelledScores:
        return cls([], [], [], [], [])

    def add(
        self,
        scores: Floats,
        predicted: npt.NDArray[np.bool_],
        classes: npt.NDArray[np.str_],
        outcomes: Floats,
        labels: npt.NDArray[np.str_],
    ) -> None:
        self.scores.append(scores)
        self.predicted.append(predicted)
        self.classes.append(classes)
        self.outcomes.append(outcomes)
        self.labels.append(labels)

    def column(self, name: str) -> Any:
        parts = getattr(self, name)
        return np.concatenate(parts) if parts else np.empty(0)

    @property
    def count(self) -> int:
        return sum(part.size for part in self.scores)


def quality_of(spec: Spec, side: LabelledScores) -> QualityReport:
    """The monitor's quality measures of one side's labelled decisions."""
    minimum = spec.monitoring.min_samples.quality
    task = spec.model.task
    scores = side.column("scores").astype(np.float64)
    if task == "binary":
        order = np.argsort(scores, kind="stable")
        binary = BinaryQuality(bins=spec.monitoring.calibration_bins, min_labelled=minimum)
        positive = side.column("outcomes")[order] == 1.0
        binary.add(scores[order], positive, side.column("predicted").astype(bool)[order])
        return binary.result()
    if task == "regression":
        regression = RegressionQuality(min_labelled=minimum)
        regression.add(scores, side.column("outcomes"))
        return regression.result()
    multiclass = MulticlassQuality(min_labelled=minimum)
    multiclass.add(side.column("classes") == side.column("labels"))
    return multiclass.result()


@dataclass(frozen=True)
class Difference:
    """The headline metric, challenger minus champion, with its interval and method."""

    metric: str
    """``auc`` (binary), ``mae`` (regression) or ``accuracy`` (multiclass)."""
    difference: Interval
    method: str
    higher_is_better: bool
    auc: AucComparison | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "metric": self.metric,
            "difference": self.difference.as_dict(),
            "method": self.method,
            "higher_is_better": self.higher_is_better,
        }


def compare_quality(
    spec: Spec, champion: LabelledScores, challenger: LabelledScores, *, paired: bool
) -> Difference:
    """The difference of the headline metric: paired when both sides scored the same
    decisions in the same order (backtest, shadow), else unpaired (canary)."""
    task = spec.model.task
    if task == "binary":
        one = (champion.column("scores"), champion.column("outcomes") == 1.0)
        two = (challenger.column("scores"), challenger.column("outcomes") == 1.0)
        auc = (
            paired_auc_difference(one[0], two[0], one[1])
            if paired
            else unpaired_auc_difference(one, two)
        )
        return Difference("auc", auc.difference, auc.method, True, auc)
    if task == "regression":
        one_error = np.abs(champion.column("scores") - champion.column("outcomes"))
        two_error = np.abs(challenger.column("scores") - challenger.column("outcomes"))
        if paired:
            found = paired_mean_difference(one_error, two_error)
            return Difference("mae", found, "paired mean difference", False)
        return Difference("mae", _unpaired(one_error, two_error), "Welch difference", False)
    one_hit = (champion.column("classes") == champion.column("labels")).astype(np.float64)
    two_hit = (challenger.column("classes") == challenger.column("labels")).astype(np.float64)
    if paired:
        found = paired_mean_difference(one_hit, two_hit)
        return Difference("accuracy", found, "paired mean difference", True)
    return Difference("accuracy", _unpaired(one_hit, two_hit), "Welch difference", True)


def _unpaired(one: Floats, two: Floats) -> Interval:
    if one.size < 2 or two.size < 2:
        return Interval.empty()
    value = float(two.mean() - one.mean())
    half = 1.959963984540054 * float(
        np.sqrt(one.var(ddof=1) / one.size + two.var(ddof=1) / two.size)
    )
    return Interval(value, value - half, value + half)


@dataclass(frozen=True)
class ExpectedValue:
    """What a policy's actions are worth: the uplift measured against the control group
    applied to the decisions the policy treats (acts on, outside the control group)."""

    treated: Mapping[str, int]
    value: Interval
    cost: float
    note: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "treated": dict(self.treated),
            "value": self.value.as_dict(),
            "cost": self.cost,
            "note": self.note,
        }


def expected_value(
    treated: Counter[str], uplift: Interval, economics: Mapping[str, ActionEconomics]
) -> ExpectedValue:
    """``uplift × Σ value(a)·n(a) − Σ cost(a)·n(a)`` over the treated actions ``a`` (the line
    :class:`~doorstep.core.stats.roi.RoiAccumulator` values the champion's outcomes with)."""
    worth = cost = 0.0
    unvalued = []
    for action, count in treated.items():
        terms = economics.get(action, ActionEconomics(value=None))
        cost += terms.cost * count
        if terms.value is None:
            unvalued.append(action)
        else:
            worth += terms.value * count
    if unvalued:
        note = f"actions without a value in the spec: {', '.join(sorted(unvalued))}"
        return ExpectedValue(dict(treated), Interval.empty(), cost, note)
    if uplift.value is None:
        return ExpectedValue(dict(treated), Interval.empty(), cost, "no uplift measured yet")
    return ExpectedValue(dict(treated), uplift.scaled(worth, -cost), cost)


def economics_of(spec: Spec) -> dict[str, ActionEconomics]:
    return {
        name: ActionEconomics(value=action.value, cost=action.cost)
        for name, action in spec.actions.items()
    }


def outcome_frame(
    semantics: OutcomeSemantics, labels: pl.Series, values: pl.Series
) -> tuple[npt.NDArray[np.bool_], Floats, npt.NDArray[np.str_]]:
    """Which rows carry an outcome the app understands, their outcome as a number (1/0 for a
    positive/negative label, or the value) and their label text."""
    if semantics.kind == "value":
        numbers = values.cast(pl.Float64).fill_null(float("nan")).to_numpy()
        return ~np.isnan(numbers), numbers, np.full(len(numbers), "", dtype=str)
    text = labels.cast(pl.String)
    valid = text.is_not_null()
    if semantics.binary:
        valid = valid & text.is_in([semantics.positive, semantics.negative]).fill_null(False)
    positive = (text == (semantics.positive or "\0")).fill_null(False).cast(pl.Float64)
    names = np.asarray(text.fill_null("").to_list(), dtype=str)
    return valid.to_numpy().astype(bool), positive.to_numpy(), names


def taken_action() -> pl.Expr:
    """The action finally taken, as the monitor counts it: a reviewed decision's verdict, a
    decided one's action, else ``none`` (held out, pending)."""
    status = pl.col("status")
    return (
        pl.when(status.is_in(["approved", "overridden"]))
        .then(pl.col("final_action"))
        .when(status == "decided")
        .then(pl.col("action"))
        .otherwise(pl.lit("none"))
        .fill_null("none")
    )
