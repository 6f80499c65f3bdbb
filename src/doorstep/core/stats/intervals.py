"""Confidence intervals used by live quality and ROI (pure; standard library only).

- a rate (precision, recall, a group's outcome rate): **Wilson score** interval;
- a difference of two rates (uplift): **Newcombe's hybrid score** interval (method 10 of
  Newcombe 1998), built from the two Wilson intervals: good coverage at small counts and rates
  near 0 or 1, where the plain Wald interval fails;
- a mean (MAE, Brier score, a difference of means): the normal approximation, mean ± z·sd/√n.

Every interval is two-sided at ``confidence`` (default 95%).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from statistics import NormalDist
from typing import Any

__all__ = [
    "CONFIDENCE",
    "Interval",
    "MeanSums",
    "mean_interval",
    "newcombe_difference",
    "wilson",
    "z_value",
]

CONFIDENCE = 0.95


def z_value(confidence: float = CONFIDENCE) -> float:
    """The standard normal quantile of a two-sided interval: 1.96 at 95%."""
    return NormalDist().inv_cdf(0.5 + confidence / 2)


@dataclass(frozen=True)
class Interval:
    """An estimate with its interval; ``None`` everywhere when nothing was measured."""

    value: float | None
    low: float | None
    high: float | None

    @classmethod
    def empty(cls) -> Interval:
        return cls(None, None, None)

    def as_dict(self) -> dict[str, Any]:
        return {"value": self.value, "low": self.low, "high": self.high}

    def excludes(self, point: float) -> bool:
        """True when the whole interval lies on one side of ``point``."""
        if self.low is None or self.high is None:
            return False
        return self.low > point or self.high < point

    def scaled(self, factor: float, offset: float = 0.0) -> Interval:
        """``factor * x + offset`` of each end (ends swap for a negative factor)."""
        if self.value is None or self.low is None or self.high is None:
            return self
        ends = sorted((self.low * factor + offset, self.high * factor + offset))
        return Interval(self.value * factor + offset, ends[0], ends[1])


def wilson(successes: int, n: int, confidence: float = CONFIDENCE) -> Interval:
    """The rate ``successes / n`` with its Wilson score interval."""
    if n <= 0:
        return Interval.empty()
    z = z_value(confidence)
    p = successes / n
    denominator = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denominator
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denominator
    return Interval(p, max(0.0, centre - half), min(1.0, centre + half))


def newcombe_difference(
    x1: int, n1: int, x2: int, n2: int, confidence: float = CONFIDENCE
) -> Interval:
    """``x1/n1 - x2/n2`` with Newcombe's hybrid score interval."""
    if n1 <= 0 or n2 <= 0:
        return Interval.empty()
    first, second = wilson(x1, n1, confidence), wilson(x2, n2, confidence)
    assert first.value is not None and first.low is not None and first.high is not None
    assert second.value is not None and second.low is not None and second.high is not None
    p1, p2 = first.value, second.value
    below = math.sqrt((p1 - first.low) ** 2 + (second.high - p2) ** 2)
    above = math.sqrt((first.high - p1) ** 2 + (p2 - second.low) ** 2)
    difference = p1 - p2
    return Interval(difference, difference - below, difference + above)


@dataclass
class MeanSums:
    """Running ``n``, sum and sum of squares of a quantity, for its mean and variance."""

    n: int = 0
    total: float = 0.0
    squares: float = 0.0

    def add(self, n: int, total: float, squares: float) -> None:
        self.n += n
        self.total += total
        self.squares += squares

    @property
    def mean(self) -> float | None:
        return self.total / self.n if self.n else None

    @property
    def variance(self) -> float | None:
        """Sample variance (``n - 1`` in the denominator); ``None`` below two values."""
        if self.n < 2:
            return None
        return max(0.0, (self.squares - self.total * self.total / self.n) / (self.n - 1))


def mean_interval(sums: MeanSums, confidence: float = CONFIDENCE) -> Interval:
    """The mean with the normal-approximation interval mean ± z·sd/√n."""
    mean, variance = sums.mean, sums.variance
    if mean is None:
        return Interval.empty()
    if variance is None:
        return Interval(mean, None, None)
    half = z_value(confidence) * math.sqrt(variance / sums.n)
    return Interval(mean, mean - half, mean + half)
