"""Live quality of a model from its labelled decisions, computed in one streaming pass.

Accumulators take chunks of rows and keep a few sums, never the rows, so memory stays constant
whatever the history:

- :class:`BinaryQuality`: AUC with a **DeLong** interval, precision and recall at the action
  threshold (Wilson intervals), the Brier score (normal-approximation interval), the positive
  rate, and a calibration table of equal-width score bins. Rows must arrive sorted by score
  (ascending): AUC is then the Mann-Whitney statistic counted group by group of equal scores,
  and DeLong's variance follows from each positive's and each negative's placement value,
  summed as the groups pass.
- :class:`RegressionQuality`: MAE and RMSE with normal-approximation intervals (RMSE's from
  the mean squared error's, square-rooted), and the mean error.
- :class:`MulticlassQuality`: accuracy (Wilson interval).

Every result carries ``labelled`` (the count of labelled decisions measured) and ``enough``
(at least the spec's ``min_samples.quality``).
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

from doorstep.core.stats.intervals import (
    CONFIDENCE,
    Interval,
    MeanSums,
    mean_interval,
    wilson,
    z_value,
)
from doorstep.core.stats.quality_report import (
    CalibrationBin,
    QualityMetric,
    QualityReport,
    Task,
)

__all__ = [
    "BinaryQuality",
    "CalibrationBin",
    "MulticlassQuality",
    "QualityMetric",
    "QualityReport",
    "RegressionQuality",
    "Task",
    "delong_auc",
]

Floats = npt.NDArray[np.float64]
Bools = npt.NDArray[np.bool_]


class _Placements:
    """DeLong's placement sums over groups of equal scores, fed in ascending score order.

    For a positive in a group, ``2 * (negatives below) + negatives tied`` is twice its
    placement count; for a negative, ``2 * (positives below) + positives tied`` is twice the
    positives it beats-or-ties *from below*. Sums and sums of squares of both give AUC and both
    variance components once the totals are known."""

    def __init__(self) -> None:
        self.n_pos = 0
        self.n_neg = 0
        self.pos_c = 0.0  # sum over positives of c = 2 * negatives below + negatives tied
        self.pos_c2 = 0.0
        self.neg_a = 0.0  # sum over negatives of a = 2 * positives below + positives tied
        self.neg_a2 = 0.0

    def add_groups(self, pos: npt.NDArray[np.int64], neg: npt.NDArray[np.int64]) -> None:
        neg_below = self.n_neg + np.cumsum(neg) - neg
        pos_below = self.n_pos + np.cumsum(pos) - pos
        c = (2 * neg_below + neg).astype(np.float64)
        a = (2 * pos_below + pos).astype(np.float64)
        self.pos_c += float(np.dot(pos, c))
        self.pos_c2 += float(np.dot(pos, c * c))
        self.neg_a += float(np.dot(neg, a))
        self.neg_a2 += float(np.dot(neg, a * a))
        self.n_pos += int(pos.sum())
        self.n_neg += int(neg.sum())

    def auc(self, confidence: float) -> Interval:
        n_pos, n_neg = self.n_pos, self.n_neg
        if n_pos == 0 or n_neg == 0:
            return Interval.empty()
        v10 = MeanSums(n_pos, self.pos_c / (2 * n_neg), self.pos_c2 / (4 * n_neg * n_neg))
        v01 = MeanSums(
            n_neg,
            n_neg - self.neg_a / (2 * n_pos),
            n_neg - self.neg_a / n_pos + self.neg_a2 / (4 * n_pos * n_pos),
        )
        auc = v10.mean
        assert auc is not None
        s10, s01 = v10.variance, v01.variance
        if s10 is None or s01 is None:
            return Interval(auc, None, None)
        half = z_value(confidence) * math.sqrt(s10 / n_pos + s01 / n_neg)
        return Interval(auc, max(0.0, auc - half), min(1.0, auc + half))


class BinaryQuality:
    """Binary classifier quality over chunks sorted by score (ascending across chunks)."""

    def __init__(
        self, *, bins: int = 10, min_labelled: int = 1, confidence: float = CONFIDENCE
    ) -> None:
        self.bins, self.min_labelled, self.confidence = bins, min_labelled, confidence
        self._placements = _Placements()
        self._held_scores: Floats = np.empty(0)
        self._held_positive: Bools = np.empty(0, dtype=bool)
        self._last_score = -math.inf
        self._squared = MeanSums()  # (score - label)^2: the Brier score
        self._tp = self._fp = self._fn = 0
        self._bin_count = np.zeros(bins, dtype=np.int64)
        self._bin_positive = np.zeros(bins, dtype=np.int64)
        self._bin_scores = np.zeros(bins, dtype=np.float64)

    def add(self, scores: Floats, positive: Bools, predicted: Bools) -> None:
        """One chunk: scores (non-decreasing, and not below the previous chunk's), whether each
        outcome was positive, and whether each decision predicted positive."""
        scores = np.asarray(scores, dtype=np.float64)
        positive = np.asarray(positive, dtype=bool)
        predicted = np.asarray(predicted, dtype=bool)
        if scores.size == 0:
            return
        if scores[0] < self._last_score or np.any(np.diff(scores) < 0):
            raise ValueError("BinaryQuality needs rows sorted by score, ascending")
        self._last_score = float(scores[-1])
        errors = scores - positive
        squared = errors * errors
        self._squared.add(scores.size, float(squared.sum()), float(np.dot(squared, squared)))
        self._tp += int(np.count_nonzero(predicted & positive))
        self._fp += int(np.count_nonzero(predicted & ~positive))
        self._fn += int(np.count_nonzero(~predicted & positive))
        index = np.clip((scores * self.bins).astype(np.int64), 0, self.bins - 1)
        self._bin_count += np.bincount(index, minlength=self.bins)
        self._bin_positive += np.bincount(index, weights=positive, minlength=self.bins).astype(
            np.int64
        )
        self._bin_scores += np.bincount(index, weights=scores, minlength=self.bins)
        # the last group of equal scores may go on in the next chunk: hold it back
        all_scores = np.concatenate([self._held_scores, scores])
        all_positive = np.concatenate([self._held_positive, positive])
        last = int(np.searchsorted(all_scores, all_scores[-1], side="left"))
        self._add_sorted(all_scores[:last], all_positive[:last])
        self._held_scores, self._held_positive = all_scores[last:], all_positive[last:]

    def _add_sorted(self, scores: Floats, positive: Bools) -> None:
        if scores.size == 0:
            return
        starts = np.flatnonzero(np.r_[True, scores[1:] != scores[:-1]])
        sizes = np.diff(np.r_[starts, scores.size])
        pos = np.add.reduceat(positive.astype(np.int64), starts)
        self._placements.add_groups(pos, sizes - pos)

    def result(self) -> QualityReport:
        self._add_sorted(self._held_scores, self._held_positive)
        self._held_scores, self._held_positive = np.empty(0), np.empty(0, dtype=bool)
        placements, c = self._placements, self.confidence
        n = placements.n_pos + placements.n_neg
        bins = tuple(
            CalibrationBin(
                low=i / self.bins,
                high=(i + 1) / self.bins,
                count=int(self._bin_count[i]),
                mean_score=float(self._bin_scores[i] / self._bin_count[i])
                if self._bin_count[i]
                else None,
                positive_rate=wilson(int(self._bin_positive[i]), int(self._bin_count[i]), c),
            )
            for i in range(self.bins)
        )
        return QualityReport(
            task="binary",
            labelled=n,
            enough=n >= self.min_labelled,
            counts={"positives": placements.n_pos},
            metrics={
                "auc": placements.auc(c),
                "precision": wilson(self._tp, self._tp + self._fp, c),
                "recall": wilson(self._tp, self._tp + self._fn, c),
                "brier": mean_interval(self._squared, c),
                "positive_rate": wilson(placements.n_pos, n, c),
            },
            calibration=bins,
        )


class RegressionQuality:
    """MAE, RMSE and mean error (prediction minus outcome) over chunks in any order."""

    def __init__(self, *, min_labelled: int = 1, confidence: float = CONFIDENCE) -> None:
        self.min_labelled, self.confidence = min_labelled, confidence
        self._absolute = MeanSums()
        self._squared = MeanSums()
        self._error = MeanSums()

    def add(self, predictions: Floats, outcomes: Floats) -> None:
        errors = np.asarray(predictions, dtype=np.float64) - np.asarray(outcomes, dtype=np.float64)
        if errors.size == 0:
            return
        absolute, squared = np.abs(errors), errors * errors
        self._absolute.add(errors.size, float(absolute.sum()), float(np.dot(absolute, absolute)))
        self._squared.add(errors.size, float(squared.sum()), float(np.dot(squared, squared)))
        self._error.add(errors.size, float(errors.sum()), float(squared.sum()))

    def result(self) -> QualityReport:
        mse = mean_interval(self._squared, self.confidence)
        if mse.value is None:
            rmse = Interval.empty()
        else:
            rmse = Interval(
                math.sqrt(mse.value),
                math.sqrt(max(0.0, mse.low)) if mse.low is not None else None,
                math.sqrt(mse.high) if mse.high is not None else None,
            )
        n = self._absolute.n
        return QualityReport(
            task="regression",
            labelled=n,
            enough=n >= self.min_labelled,
            metrics={
                "mae": mean_interval(self._absolute, self.confidence),
                "rmse": rmse,
                "mean_error": mean_interval(self._error, self.confidence),
            },
        )


class MulticlassQuality:
    """Accuracy of the predicted class over chunks in any order."""

    def __init__(self, *, min_labelled: int = 1, confidence: float = CONFIDENCE) -> None:
        self.min_labelled, self.confidence = min_labelled, confidence
        self._n = self._right = 0

    def add(self, correct: Bools) -> None:
        correct = np.asarray(correct, dtype=bool)
        self._n += correct.size
        self._right += int(np.count_nonzero(correct))

    def result(self) -> QualityReport:
        return QualityReport(
            task="multiclass",
            labelled=self._n,
            enough=self._n >= self.min_labelled,
            metrics={"accuracy": wilson(self._right, self._n, self.confidence)},
        )


def delong_auc(scores: Floats, positive: Bools, confidence: float = CONFIDENCE) -> Interval:
    """AUC with its DeLong interval for arrays in memory (sorted here)."""
    order = np.argsort(scores, kind="stable")
    quality = BinaryQuality(confidence=confidence)
    quality.add(scores[order], positive[order], np.zeros(order.size, dtype=bool))
    return quality.result().metrics["auc"]
