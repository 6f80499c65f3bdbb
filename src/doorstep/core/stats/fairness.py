"""Fairness of decisions by a sensitive attribute, counted in one streaming pass.

:class:`FairnessTally` takes chunks of decisions (group, action, selected, outcome, score) and
keeps per group a handful of counts and sums, never the rows; :meth:`FairnessTally.result` turns
them into :class:`~doorstep.core.stats.fairness_report.AttributeFairness`: selection rates of
each action, demographic-parity difference and ratio, true and false positive rates,
equalized-odds difference and calibration per group, each with its interval. The numbers are
Fairlearn's (``fairlearn.metrics``) on the groups with at least ``min_group`` decisions;
``tests/core/stats/test_fairness_fairlearn.py`` checks them to 1e-9.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from doorstep.core.stats.fairness_report import (
    SELECTED,
    AttributeFairness,
    Disparity,
    GroupFairness,
)
from doorstep.core.stats.intervals import (
    CONFIDENCE,
    Interval,
    MeanSums,
    mean_interval,
    newcombe_difference,
    wilson,
    z_value,
)

__all__ = [
    "AttributeFairness",
    "Disparity",
    "FairnessTally",
    "GroupFairness",
    "ratio_interval",
]

Bools = npt.NDArray[np.bool_]


@dataclass
class _Counts:
    decisions: int = 0
    actions: dict[str, int] = field(default_factory=dict)
    selected: int = 0
    labelled: int = 0
    positives: int = 0
    true_positives: int = 0
    false_positives: int = 0
    scores: MeanSums = field(default_factory=MeanSums)

    @property
    def negatives(self) -> int:
        return self.labelled - self.positives


def ratio_interval(
    x_low: int, n_low: int, x_high: int, n_high: int, confidence: float = CONFIDENCE
) -> Interval:
    """``(x_low/n_low) / (x_high/n_high)`` with Katz's log interval; no ends when a count is 0
    (and no value when the denominator's rate is 0)."""
    if n_low <= 0 or n_high <= 0 or x_high <= 0:
        return Interval.empty()
    ratio = (x_low / n_low) / (x_high / n_high)
    if x_low <= 0:
        return Interval(ratio, None, None)
    se = math.sqrt(1 / x_low - 1 / n_low + 1 / x_high - 1 / n_high)
    half = z_value(confidence) * se
    return Interval(ratio, ratio * math.exp(-half), ratio * math.exp(half))


class FairnessTally:
    """Counts per group of one attribute; feed chunks with :meth:`add`.

    ``actions``: the actions whose selection rates are reported (in this order; actions met
    that are not listed are added after them). ``order``: groups to list first, in this order
    (bands, in increasing order); others follow sorted. ``outcomes``: binary outcomes exist, so
    error rates and calibration are measured."""

    def __init__(
        self,
        attribute: str,
        field_name: str,
        *,
        min_group: int,
        actions: Sequence[str] = (),
        order: Sequence[str] = (),
        outcomes: bool = True,
    ) -> None:
        self.attribute, self.field = attribute, field_name
        self.min_group = min_group
        self.actions = list(actions)
        self.order = list(order)
        self.outcomes = outcomes
        self.groups: dict[str, _Counts] = {}

    def add(
        self,
        groups: Sequence[str] | npt.NDArray[np.object_],
        actions: Sequence[str] | npt.NDArray[np.object_],
        selected: Bools,
        labelled: Bools,
        positive: Bools,
        scores: npt.NDArray[np.float64],
    ) -> None:
        """One chunk: per decision its group, action, whether it was selected, whether its
        outcome is known (binary), whether that outcome is positive, and its score."""
        group_names, group_codes = np.unique(np.asarray(groups, dtype=object), return_inverse=True)
        action_names, action_codes = np.unique(
            np.asarray(actions, dtype=object), return_inverse=True
        )
        size = len(group_names)
        count = np.bincount(group_codes, minlength=size)
        chosen = np.bincount(group_codes, weights=selected, minlength=size)
        known = labelled & np.isfinite(scores) if self.outcomes else np.zeros_like(labelled)
        pos = known & positive
        tally = {
            "labelled": np.bincount(group_codes, weights=known, minlength=size),
            "positives": np.bincount(group_codes, weights=pos, minlength=size),
            "tp": np.bincount(group_codes, weights=pos & selected, minlength=size),
            "fp": np.bincount(group_codes, weights=known & ~positive & selected, minlength=size),
        }
        score = np.where(known, scores, 0.0)
        sums = np.bincount(group_codes, weights=score, minlength=size)
        squares = np.bincount(group_codes, weights=score * score, minlength=size)
        pairs = np.bincount(
            group_codes * len(action_names) + action_codes, minlength=size * len(action_names)
        ).reshape(size, len(action_names))
        for index, name in enumerate(group_names):
            counts = self.groups.setdefault(str(name), _Counts())
            counts.decisions += int(count[index])
            counts.selected += int(chosen[index])
            counts.labelled += int(tally["labelled"][index])
            counts.positives += int(tally["positives"][index])
            counts.true_positives += int(tally["tp"][index])
            counts.false_positives += int(tally["fp"][index])
            counts.scores.add(
                int(tally["labelled"][index]), float(sums[index]), float(squares[index])
            )
            for a, action in enumerate(action_names):
                if pairs[index, a]:
                    key = str(action)
                    counts.actions[key] = counts.actions.get(key, 0) + int(pairs[index, a])
                    if key not in self.actions:
                        self.actions.append(key)

    def result(self, confidence: float = CONFIDENCE) -> AttributeFairness:
        """Rates per group and the disparities between the groups large enough."""
        names = [g for g in self.order if g in self.groups]
        names += sorted(g for g in self.groups if g not in names)
        counts = [self.groups[n] for n in names]
        groups = tuple(self._group(n, c, confidence) for n, c in zip(names, counts, strict=True))
        total = _Counts()
        for c in counts:
            total.decisions += c.decisions
            total.selected += c.selected
            total.labelled += c.labelled
            total.positives += c.positives
            total.true_positives += c.true_positives
            total.false_positives += c.false_positives
            total.scores.add(c.scores.n, c.scores.total, c.scores.squares)
            for action, n in c.actions.items():
                total.actions[action] = total.actions.get(action, 0) + n
        sized = [
            (n, c) for n, c in zip(names, counts, strict=True) if c.decisions >= self.min_group
        ]
        difference: dict[str, Disparity] = {}
        ratio: dict[str, Disparity] = {}
        for action in [SELECTED, *self.actions]:
            difference[action], ratio[action] = _spread(sized, _action_rate(action), confidence)
        odds = [(n, c) for n, c in sized if self._odds_enough(c)] if self.outcomes else []
        tpr, _ = _spread(odds, lambda c: (c.true_positives, c.positives), confidence)
        fpr, _ = _spread(odds, lambda c: (c.false_positives, c.negatives), confidence)
        worst = tpr if (fpr.estimate.value or 0.0) <= (tpr.estimate.value or 0.0) else fpr
        return AttributeFairness(
            attribute=self.attribute,
            field=self.field,
            min_group=self.min_group,
            groups=groups,
            overall=self._group("all", total, confidence),
            parity_difference=difference,
            parity_ratio=ratio,
            equalized_odds_difference=worst if len(odds) >= 2 else Disparity.none(),
            true_positive_rate_difference=tpr,
            false_positive_rate_difference=fpr,
            outcomes=self.outcomes,
        )

    def _odds_enough(self, counts: _Counts) -> bool:
        return counts.positives >= self.min_group and counts.negatives >= self.min_group

    def _group(self, name: str, c: _Counts, confidence: float) -> GroupFairness:
        selection = {SELECTED: wilson(c.selected, c.decisions, confidence)}
        for action in self.actions:
            selection[action] = wilson(c.actions.get(action, 0), c.decisions, confidence)
        if not self.outcomes:
            return GroupFairness(name, c.decisions, c.decisions >= self.min_group, selection)
        return GroupFairness(
            group=name,
            decisions=c.decisions,
            enough=c.decisions >= self.min_group,
            selection=selection,
            labelled=c.labelled,
            positives=c.positives,
            negatives=c.negatives,
            true_positive_rate=wilson(c.true_positives, c.positives, confidence),
            false_positive_rate=wilson(c.false_positives, c.negatives, confidence),
            mean_score=mean_interval(c.scores, confidence),
            observed_rate=wilson(c.positives, c.labelled, confidence),
            odds_enough=c.decisions >= self.min_group and self._odds_enough(c),
        )


def _action_rate(action: str) -> Callable[[_Counts], tuple[int, int]]:
    if action == SELECTED:
        return lambda c: (c.selected, c.decisions)
    return lambda c: (c.actions.get(action, 0), c.decisions)


def _spread(
    groups: list[tuple[str, _Counts]],
    rate: Callable[[_Counts], tuple[int, int]],
    confidence: float,
) -> tuple[Disparity, Disparity]:
    """Difference (highest minus lowest rate) and ratio (lowest over highest) between the two
    groups furthest apart; none below two groups."""
    if len(groups) < 2:
        return Disparity.none(), Disparity.none()
    rates = [(x / n, name, x, n) for name, c in groups for x, n in [rate(c)]]
    high = max(rates, key=lambda r: r[0])
    low = min(rates, key=lambda r: r[0])
    difference = newcombe_difference(high[2], high[3], low[2], low[3], confidence)
    ratio = ratio_interval(low[2], low[3], high[2], high[3], confidence)
    return Disparity(difference, high[1], low[1]), Disparity(ratio, high[1], low[1])
