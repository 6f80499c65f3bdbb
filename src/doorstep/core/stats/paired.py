"""Two models on the same decisions, or on different ones: the difference of their quality with
its interval.

- **Paired AUC** (:func:`paired_auc_difference`): both models scored the same labelled
  decisions (a backtest, a shadow). DeLong, DeLong & Clarke-Pearson (1988) give the covariance
  of the two AUCs from each decision's placement values; the difference's variance is
  ``var(A) + var(B) - 2 cov(A, B)``. Computed with midranks (Sun & Xu 2014), O(n log n).
- **Unpaired AUC** (:func:`unpaired_auc_difference`): each model decided its own decisions (a
  canary): the two AUCs are independent, the difference's variance the sum of their DeLong
  variances.
- **Paired mean difference** (:func:`paired_mean_difference`): any per-decision loss or hit
  (absolute error, a correct class), the mean of the per-decision differences with its normal
  interval.

Differences are ``challenger - champion`` throughout. Arrays are in memory: a few floats per
labelled decision.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from doorstep.core.stats.intervals import CONFIDENCE, Interval, MeanSums, mean_interval, z_value

__all__ = [
    "AucComparison",
    "paired_auc_difference",
    "paired_mean_difference",
    "unpaired_auc_difference",
]

Floats = npt.NDArray[np.float64]
Bools = npt.NDArray[np.bool_]


@dataclass(frozen=True)
class AucComparison:
    """Each model's AUC with its DeLong interval, and the difference (challenger - champion)
    with its interval and how it was computed (``paired`` or ``unpaired`` DeLong)."""

    champion: Interval
    challenger: Interval
    difference: Interval
    method: str
    standard_error: float | None

    def as_dict(self) -> dict[str, Any]:
        return {
            "champion": self.champion.as_dict(),
            "challenger": self.challenger.as_dict(),
            "difference": self.difference.as_dict(),
            "method": self.method,
            "standard_error": self.standard_error,
        }


def _midranks(values: Floats) -> Floats:
    """1-based ranks, ties given the mean of their ranks."""
    order = np.argsort(values, kind="mergesort")
    ordered = values[order]
    starts = np.flatnonzero(np.r_[True, ordered[1:] != ordered[:-1]])
    ends = np.r_[starts[1:], ordered.size]
    mean_rank = (starts + ends + 1) / 2.0
    ranks = np.empty(values.size, dtype=np.float64)
    ranks[order] = np.repeat(mean_rank, ends - starts)
    return ranks


def _components(scores: Floats, positive: Bools) -> tuple[float, Floats, Floats]:
    """AUC and the placement values of positives (``v10``) and negatives (``v01``)."""
    pos, neg = scores[positive], scores[~positive]
    m, n = pos.size, neg.size
    overall = _midranks(np.concatenate([pos, neg]))
    among_pos, among_neg = _midranks(pos), _midranks(neg)
    auc = float((overall[:m].sum() - m * (m + 1) / 2.0) / (m * n))
    v10 = (overall[:m] - among_pos) / n
    v01 = 1.0 - (overall[m:] - among_neg) / m
    return auc, v10, v01


def _interval(value: float, variance: float, confidence: float, bounded: bool) -> Interval:
    half = z_value(confidence) * math.sqrt(max(variance, 0.0))
    low, high = value - half, value + half
    if bounded:
        low, high = max(0.0, low), min(1.0, high)
    return Interval(value, low, high)


def _variance(values: Floats) -> float:
    return float(values.var(ddof=1)) if values.size > 1 else 0.0


def _both_classes(positive: Bools) -> bool:
    count = int(np.count_nonzero(positive))
    return 0 < count < positive.size


def paired_auc_difference(
    champion: Floats, challenger: Floats, positive: Bools, confidence: float = CONFIDENCE
) -> AucComparison:
    """Both AUCs on the same decisions and their difference (paired DeLong)."""
    positive = np.asarray(positive, dtype=bool)
    if not _both_classes(positive):
        empty = Interval.empty()
        return AucComparison(empty, empty, empty, "paired DeLong", None)
    m, n = int(positive.sum()), int((~positive).sum())
    a_auc, a10, a01 = _components(np.asarray(champion, dtype=np.float64), positive)
    b_auc, b10, b01 = _components(np.asarray(challenger, dtype=np.float64), positive)
    var_a = _variance(a10) / m + _variance(a01) / n
    var_b = _variance(b10) / m + _variance(b01) / n
    cov = (_covariance(a10, b10) / m) + (_covariance(a01, b01) / n)
    diff_var = var_a + var_b - 2.0 * cov
    return AucComparison(
        champion=_interval(a_auc, var_a, confidence, True),
        challenger=_interval(b_auc, var_b, confidence, True),
        difference=_interval(b_auc - a_auc, diff_var, confidence, False),
        method="paired DeLong",
        standard_error=math.sqrt(max(diff_var, 0.0)),
    )


def _covariance(a: Floats, b: Floats) -> float:
    if a.size < 2:
        return 0.0
    return float(np.cov(a, b, ddof=1)[0, 1])


def unpaired_auc_difference(
    champion: tuple[Floats, Bools],
    challenger: tuple[Floats, Bools],
    confidence: float = CONFIDENCE,
) -> AucComparison:
    """Each AUC on its own decisions and their difference (independent DeLong variances)."""
    results: list[tuple[float, float] | None] = []
    for scores, positive in (champion, challenger):
        positive = np.asarray(positive, dtype=bool)
        if not _both_classes(positive):
            results.append(None)
            continue
        m, n = int(positive.sum()), int((~positive).sum())
        auc, v10, v01 = _components(np.asarray(scores, dtype=np.float64), positive)
        results.append((auc, _variance(v10) / m + _variance(v01) / n))
    first, second = results
    one = Interval.empty() if first is None else _interval(*first, confidence, True)
    two = Interval.empty() if second is None else _interval(*second, confidence, True)
    if first is None or second is None:
        return AucComparison(one, two, Interval.empty(), "unpaired DeLong", None)
    variance = first[1] + second[1]
    return AucComparison(
        champion=one,
        challenger=two,
        difference=_interval(second[0] - first[0], variance, confidence, False),
        method="unpaired DeLong",
        standard_error=math.sqrt(variance),
    )


def paired_mean_difference(
    champion: Floats, challenger: Floats, confidence: float = CONFIDENCE
) -> Interval:
    """The mean of ``challenger - champion`` per decision with its normal interval."""
    differences = np.asarray(challenger, dtype=np.float64) - np.asarray(champion, dtype=np.float64)
    sums = MeanSums()
    sums.add(differences.size, float(differences.sum()), float(np.dot(differences, differences)))
    return mean_interval(sums, confidence)
