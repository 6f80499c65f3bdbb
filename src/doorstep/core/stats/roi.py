"""ROI against the control group: does acting change outcomes, by how much, and what is it worth?

Only decisions the policy would act on count (action other than ``none``). The control group is
a random (hashed) share of them that was never acted on; the others are **treated**. Treated
decisions are compared as assigned (intention to treat): a treated decision a reviewer
overrode to ``none`` stays treated, so the comparison keeps the randomisation.

- Labels: each group's positive-outcome rate (Wilson interval); the **uplift** is the difference
  of the two rates in the direction of the spec's ``goal`` (``decrease``: control minus
  treated), with Newcombe's hybrid score interval for a difference of proportions.
- Values: each group's mean outcome; the uplift is the difference of means in the goal's
  direction, with a normal (Welch) interval.
- **Value** = uplift × Σ over actions of (the action's ``value`` × its treated decisions) −
  Σ (the action's ``cost`` × actions taken), and its interval the same line through the
  uplift's interval. Decisions count once their outcome is known.

When the groups are too small to conclude, the report says how many more control outcomes are
needed, from a two-proportion power calculation (two-sided alpha 0.05, power 0.8; for values
the two-sample normal one) at the uplift observed so far and the current treated:control ratio.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from doorstep.core.stats.intervals import (
    CONFIDENCE,
    Interval,
    MeanSums,
    mean_interval,
    newcombe_difference,
    wilson,
    z_value,
)
from doorstep.core.stats.roi_report import (
    ALPHA,
    POWER,
    ActionRoi,
    Conclusion,
    Goal,
    OutcomeKind,
    RoiGroup,
    RoiReport,
)

__all__ = [
    "ALPHA",
    "POWER",
    "ActionEconomics",
    "ActionRoi",
    "Conclusion",
    "GroupStats",
    "OutcomeKind",
    "RoiAccumulator",
    "RoiGroup",
    "RoiReport",
    "minimum_detectable_uplift",
    "required_control_size",
]


@dataclass(frozen=True)
class ActionEconomics:
    """An action's ``value`` (of one outcome changed by acting) and ``cost`` (of acting once)."""

    value: float | None
    cost: float = 0.0


@dataclass
class GroupStats:
    """One group's labelled decisions: count and positives (labels) or value sums."""

    n: int = 0
    positives: int = 0
    values: MeanSums = field(default_factory=MeanSums)

    def rate(self, kind: str, confidence: float) -> Interval:
        if kind == "label":
            return wilson(self.positives, self.n, confidence)
        return mean_interval(self.values, confidence)

    def outcome(self, kind: str, confidence: float) -> RoiGroup:
        return RoiGroup(self.n, self.rate(kind, confidence))


def required_control_size(
    control_rate: float,
    treated_rate: float,
    ratio: float,
    *,
    alpha: float = ALPHA,
    power: float = POWER,
) -> float:
    """Control outcomes needed for a two-sided two-proportion z-test to detect the difference
    between ``control_rate`` and ``treated_rate`` with ``ratio`` treated per control (the
    normal approximation without continuity correction, as R's ``power.prop.test``)."""
    difference = abs(control_rate - treated_rate)
    if difference == 0:
        return math.inf
    z_a, z_b = z_value(1 - alpha), z_value(2 * power - 1)
    pooled = (control_rate + ratio * treated_rate) / (1 + ratio)
    spread = z_a * math.sqrt(pooled * (1 - pooled) * (1 + 1 / ratio)) + z_b * math.sqrt(
        control_rate * (1 - control_rate) + treated_rate * (1 - treated_rate) / ratio
    )
    return spread * spread / (difference * difference)


def _required_control_for_means(
    difference: float, control_var: float, treated_var: float, ratio: float
) -> float:
    if difference == 0:
        return math.inf
    z = z_value(1 - ALPHA) + z_value(2 * POWER - 1)
    return z * z * (control_var + treated_var / ratio) / (difference * difference)


def minimum_detectable_uplift(
    pooled_rate: float,
    n_control: int,
    n_treated: int,
    *,
    alpha: float = ALPHA,
    power: float = POWER,
) -> float | None:
    """The smallest difference of rates the current group sizes detect with ``power``."""
    if n_control <= 0 or n_treated <= 0:
        return None
    z = z_value(1 - alpha) + z_value(2 * power - 1)
    return z * math.sqrt(pooled_rate * (1 - pooled_rate) * (1 / n_control + 1 / n_treated))


class RoiAccumulator:
    """Treated versus control among decisions that would act, fed in chunks in any order."""

    def __init__(
        self,
        kind: OutcomeKind,
        goal: Goal,
        economics: Mapping[str, ActionEconomics],
        *,
        min_outcomes: int = 100,
        confidence: float = CONFIDENCE,
    ) -> None:
        self.kind, self.goal, self.economics = kind, goal, dict(economics)
        self.min_outcomes, self.confidence = min_outcomes, confidence
        self.treated: dict[str, GroupStats] = {}
        self.control: dict[str, GroupStats] = {}
        self.taken: Counter[str] = Counter()
        """Actions taken on treated decisions, by the action finally delivered."""

    def add(
        self,
        action: npt.NDArray[np.str_] | list[str],
        control: npt.NDArray[np.bool_],
        taken: npt.NDArray[np.str_] | list[str],
        outcome: npt.NDArray[np.float64],
    ) -> None:
        """One chunk of labelled decisions: the policy's action, the control flag, the action
        finally taken (``none`` when none was: control, pending, overridden to ``none``), and
        the outcome (1.0/0.0 for a positive/negative label, or the value)."""
        actions = np.asarray(action, dtype=object)
        controls = np.asarray(control, dtype=bool)
        taken_actions = np.asarray(taken, dtype=object)
        outcomes = np.asarray(outcome, dtype=np.float64)
        acting = actions != "none"
        for name in np.unique(actions[acting]):
            rows = acting & (actions == name)
            for group, mask in ((self.treated, rows & ~controls), (self.control, rows & controls)):
                values = outcomes[mask]
                if values.size == 0:
                    continue
                stats = group.setdefault(str(name), GroupStats())
                stats.n += values.size
                stats.positives += int(np.count_nonzero(values == 1.0))
                stats.values.add(values.size, float(values.sum()), float(np.dot(values, values)))
        delivered = acting & ~controls & (taken_actions != "none")
        self.taken.update(str(t) for t in taken_actions[delivered])

    def _pooled(self, groups: dict[str, GroupStats]) -> GroupStats:
        pooled = GroupStats()
        for stats in groups.values():
            pooled.n += stats.n
            pooled.positives += stats.positives
            pooled.values.add(stats.values.n, stats.values.total, stats.values.squares)
        return pooled

    def _uplift(self, treated: GroupStats, control: GroupStats) -> Interval:
        c = self.confidence
        if self.kind == "label":
            rates = newcombe_difference(
                control.positives, control.n, treated.positives, treated.n, c
            )
            return rates if self.goal == "decrease" else rates.scaled(-1.0)
        t_mean, c_mean = treated.values.mean, control.values.mean
        if t_mean is None or c_mean is None:
            return Interval.empty()
        sign = -1.0 if self.goal == "decrease" else 1.0
        difference = sign * (t_mean - c_mean)
        t_var, c_var = treated.values.variance, control.values.variance
        if t_var is None or c_var is None:
            return Interval(difference, None, None)
        half = z_value(c) * math.sqrt(t_var / treated.n + c_var / control.n)
        return Interval(difference, difference - half, difference + half)

    def result(self) -> RoiReport:
        treated, control = self._pooled(self.treated), self._pooled(self.control)
        uplift = self._uplift(treated, control)
        cost = sum(self._economics(a).cost * n for a, n in self.taken.items())
        worth = 0.0
        valued = True
        for action, stats in self.treated.items():
            per_outcome = self._economics(action).value
            if per_outcome is None:
                valued = False
            else:
                worth += per_outcome * stats.n
        value = (
            uplift.scaled(worth, -cost) if valued and uplift.value is not None else Interval.empty()
        )
        conclusion, message, needed = self._conclude(treated, control, uplift, valued)
        return RoiReport(
            kind=self.kind,
            goal=self.goal,
            treated=treated.outcome(self.kind, self.confidence),
            control=control.outcome(self.kind, self.confidence),
            uplift=uplift,
            value=value,
            actions_taken=sum(self.taken.values()),
            cost=cost,
            conclusion=conclusion,
            message=message,
            needed_control_outcomes=needed,
            actions={
                action: self._action(action)
                for action in sorted(set(self.treated) | set(self.control) | set(self.taken))
            },
        )

    def _action(self, action: str) -> ActionRoi:
        treated = self.treated.get(action, GroupStats())
        control = self.control.get(action, GroupStats())
        economics = self._economics(action)
        return ActionRoi(
            treated=treated.outcome(self.kind, self.confidence),
            control=control.outcome(self.kind, self.confidence),
            uplift=self._uplift(treated, control),
            taken=self.taken.get(action, 0),
            value_per_outcome=economics.value,
            cost_per_action=economics.cost,
        )

    def _economics(self, action: str) -> ActionEconomics:
        return self.economics.get(action, ActionEconomics(value=None))

    def _needed(self, treated: GroupStats, control: GroupStats, uplift: float) -> float:
        ratio = treated.n / control.n
        if self.kind == "label":
            c_rate, t_rate = control.positives / control.n, treated.positives / treated.n
            return required_control_size(c_rate, t_rate, ratio)
        c_var, t_var = control.values.variance or 0.0, treated.values.variance or 0.0
        return _required_control_for_means(uplift, c_var, t_var, ratio)

    def _detectable(self, treated: GroupStats, control: GroupStats) -> float | None:
        """The smallest uplift the groups detect, when it is a rate at all (below 1)."""
        if self.kind != "label" or not treated.n or not control.n:
            return None
        pooled = (treated.positives + control.positives) / (treated.n + control.n)
        smallest = minimum_detectable_uplift(pooled, control.n, treated.n)
        return smallest if smallest is not None and smallest < 1.0 else None

    def _conclude(
        self, treated: GroupStats, control: GroupStats, uplift: Interval, valued: bool
    ) -> tuple[Conclusion, str, int | None]:
        """The conclusion, a plain sentence, and how many more control outcomes are needed."""
        scale, unit = (100.0, "points") if self.kind == "label" else (1.0, "per decision")
        test = "two-proportion" if self.kind == "label" else "two-sample"
        counts = f"{treated.n} treated and {control.n} control outcomes"
        if control.n == 0 or treated.n == 0:
            group = "control" if control.n == 0 else "treated"
            return (
                "too_small",
                f"No {group} decision has an outcome yet, so nothing can be concluded; at least "
                f"{self.min_outcomes} outcomes are needed in each group.",
                self.min_outcomes if control.n == 0 else max(0, self.min_outcomes - control.n),
            )
        assert uplift.value is not None
        observed = f"{uplift.value * scale:+.1f} {unit}"
        required = self._needed(treated, control, uplift.value) if uplift.value > 0 else math.inf
        for_power = max(0, math.ceil(required) - control.n) if math.isfinite(required) else None
        short_control = max(0, self.min_outcomes - control.n)
        short_treated = max(0, self.min_outcomes - treated.n)
        if short_control or short_treated or (for_power or 0) > 0:
            needed = max(short_control, for_power or 0)
            text = (
                "The control group is still too small for a conclusion"
                if needed
                else "The treated group is still too small for a conclusion"
            )
            text += f": {counts} so far (observed uplift {observed})."
            if for_power:
                text += (
                    f" About {needed} more control outcomes are needed to detect an uplift of "
                    f"this size ({test} test, alpha {ALPHA}, power {POWER})."
                )
            elif needed:
                text += f" At least {needed} more control outcomes are needed."
            if short_treated:
                text += f" At least {short_treated} more treated outcomes are needed."
            smallest = self._detectable(treated, control)
            if smallest is not None:
                text += (
                    f" The groups as they are would detect an uplift of {smallest * scale:.1f} "
                    f"{unit} or more."
                )
            return "too_small", text, needed
        if uplift.excludes(0.0):
            assert uplift.low is not None and uplift.high is not None
            helps = uplift.value > 0
            text = (
                f"Acting {'helps' if helps else 'hurts'}: uplift {observed} (95% interval "
                f"{uplift.low * scale:+.1f} to {uplift.high * scale:+.1f}) from {counts}."
            )
            if not valued:
                text += " Declare each action's value in the spec to see what it is worth."
            return ("uplift" if helps else "harm"), text, 0
        if uplift.value <= 0:
            text = f"No uplift observed: {observed} from {counts}, and the interval includes zero."
            smallest = self._detectable(treated, control)
            if smallest is not None:
                text += (
                    f" These groups are large enough to detect an uplift of "
                    f"{smallest * scale:.1f} {unit} or more."
                )
            return "no_uplift", text, None
        return (
            "inconclusive",
            f"Uplift {observed} from {counts}, but its 95% interval includes zero.",
            None,
        )
