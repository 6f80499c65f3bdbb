"""Quality estimated before outcomes arrive: confidence-based performance estimation (CBPE).

A calibrated score ``p`` (:mod:`doorstep.core.stats.calibration`) is the chance the decision's
outcome is positive, so each decision adds ``p`` of a positive and ``1 - p`` of a negative to
an **expected confusion matrix**: a decision predicted positive adds ``p`` to the true
positives and ``1 - p`` to the false positives, one predicted negative ``p`` to the false
negatives. From it, for every window, with no outcome known:

- precision ``E[TP] / (E[TP] + E[FP])``, recall ``E[TP] / (E[TP] + E[FN])``, F1
  ``2 E[TP] / (2 E[TP] + E[FP] + E[FN])``;
- AUC: the chance a positive outscores a negative, each decision counted as ``p`` of a positive
  and ``1 - p`` of a negative, ties half (scores grouped in 4,096 equal bins of ``[0, 1]``, so
  the accumulator is a fixed size whatever the window);
- expected value per decision: each acted decision is worth its action's ``value`` times ``p``
  less its ``cost``; decisions not acted on are worth 0.

**Intervals** are sampling intervals (95%): how far the realised metric of this window may fall
from the estimate by chance when the calibration holds. Outcomes are independent Bernoulli
``p`` draws, so ``TP`` and ``FN`` are sums of independent draws with variances
``Σ p(1 - p)`` over the predicted positives and negatives; precision, recall and F1 get theirs
by the delta method, the value its ``Σ value² p(1 - p) / n²``, and AUC Hanley and McNeil's
(1982) with the expected counts of positives and negatives. They do not include the error of
the calibration itself, nor any change in how outcomes follow from inputs (concept drift):
see ``docs/monitoring.md``.
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

from doorstep.core.stats.calibration import ScoreCalibration
from doorstep.core.stats.intervals import CONFIDENCE, Interval, z_value

__all__ = ["AUC_BINS", "ESTIMATED_METRICS", "EstimatedQuality", "estimated_auc"]

Floats = npt.NDArray[np.float64]
Bools = npt.NDArray[np.bool_]
AUC_BINS = 4_096
ESTIMATED_METRICS = ("auc", "precision", "recall", "f1", "expected_value")
"""What a window's estimate holds (``expected_value`` only when the spec's actions have values
or costs)."""


def _clip(value: float, low: float, high: float) -> float:
    return min(high, max(low, value))


def estimated_auc(positive: Floats, negative: Floats) -> float | None:
    """AUC from per-bin expected positives and negatives (bins in ascending score order)."""
    total_pos, total_neg = float(positive.sum()), float(negative.sum())
    if total_pos <= 0 or total_neg <= 0:
        return None
    below = np.cumsum(negative) - negative
    wins = float(np.dot(positive, below + 0.5 * negative))
    return wins / (total_pos * total_neg)


def _hanley_mcneil(auc: float, n_pos: float, n_neg: float, z: float) -> Interval:
    q1, q2 = auc / (2 - auc), 2 * auc * auc / (1 + auc)
    variance = (
        auc * (1 - auc) + (n_pos - 1) * (q1 - auc * auc) + (n_neg - 1) * (q2 - auc * auc)
    ) / (n_pos * n_neg)
    half = z * math.sqrt(max(0.0, variance))
    return Interval(auc, _clip(auc - half, 0, 1), _clip(auc + half, 0, 1))


class EstimatedQuality:
    """The expected confusion matrix of one window, fed chunk by chunk in any order."""

    def __init__(
        self, calibration: ScoreCalibration, *, valued: bool = False, confidence: float = CONFIDENCE
    ) -> None:
        self.calibration, self.valued, self.confidence = calibration, valued, confidence
        self.rows = 0
        self._predicted = 0
        self._tp = self._tp_var = 0.0  # Σ p and Σ p(1 - p) over predicted positives
        self._fn = self._fn_var = 0.0  # the same over predicted negatives
        self._value = self._value_var = 0.0
        self._pos = np.zeros(AUC_BINS)
        self._neg = np.zeros(AUC_BINS)

    def add(
        self,
        scores: Floats,
        predicted: Bools,
        value: Floats | None = None,
        cost: Floats | None = None,
    ) -> None:
        """One chunk: raw scores, whether each decision predicted positive, and (for the
        expected value) each decision's action's value and cost (0 where nothing is done)."""
        scores = np.asarray(scores, dtype=np.float64)
        finite = np.isfinite(scores)
        if not finite.all():
            scores = scores[finite]
            predicted = np.asarray(predicted, dtype=bool)[finite]
            value = None if value is None else np.asarray(value)[finite]
            cost = None if cost is None else np.asarray(cost)[finite]
        if scores.size == 0:
            return
        predicted = np.asarray(predicted, dtype=bool)
        p = self.calibration.apply(scores)
        spread = p * (1 - p)
        self.rows += scores.size
        # one pass per sum: bin 1 holds the predicted positives, bin 0 the rest
        group = predicted.view(np.uint8)
        chances = np.bincount(group, weights=p, minlength=2)
        spreads = np.bincount(group, weights=spread, minlength=2)
        self._predicted += int(np.count_nonzero(predicted))
        self._tp += float(chances[1])
        self._tp_var += float(spreads[1])
        self._fn += float(chances[0])
        self._fn_var += float(spreads[0])
        index = np.clip((scores * AUC_BINS).astype(np.int64), 0, AUC_BINS - 1)
        positive = np.bincount(index, weights=p, minlength=AUC_BINS)
        self._pos += positive
        self._neg += np.bincount(index, minlength=AUC_BINS) - positive
        if value is not None and cost is not None:
            gains = np.asarray(value, dtype=np.float64)
            # elementwise sums, not np.dot: BLAS threads cost more than they save on a page
            self._value += float((gains * p).sum() - np.sum(cost))
            self._value_var += float((gains * gains * spread).sum())

    def result(self) -> dict[str, Interval]:
        """Each metric of :data:`ESTIMATED_METRICS` with its sampling interval (empty when
        the window cannot define it: no decisions, no predicted positive)."""
        z = z_value(self.confidence)
        tp, fn, n_pred = self._tp, self._fn, float(self._predicted)
        out: dict[str, Interval] = {}
        auc = estimated_auc(self._pos, self._neg)
        positives = tp + fn
        negatives = self.rows - positives
        out["auc"] = (
            _hanley_mcneil(auc, positives, negatives, z)
            if auc is not None and positives > 1 and negatives > 1
            else Interval(auc, None, None)
        )
        if n_pred > 0:
            value = tp / n_pred
            half = z * math.sqrt(self._tp_var) / n_pred
            out["precision"] = Interval(value, _clip(value - half, 0, 1), _clip(value + half, 0, 1))
        else:
            out["precision"] = Interval.empty()
        if positives > 0:
            recall = tp / positives
            # recall = A / (A + B): A (true positives) and B (false negatives) independent
            variance = (fn * fn * self._tp_var + tp * tp * self._fn_var) / positives**4
            half = z * math.sqrt(variance)
            out["recall"] = Interval(recall, _clip(recall - half, 0, 1), _clip(recall + half, 0, 1))
            denominator = n_pred + positives  # 2 TP + FP + FN
            f1 = 2 * tp / denominator
            d_tp = 2 * (n_pred + fn) / denominator**2
            d_fn = -2 * tp / denominator**2
            half = z * math.sqrt(d_tp * d_tp * self._tp_var + d_fn * d_fn * self._fn_var)
            out["f1"] = Interval(f1, _clip(f1 - half, 0, 1), _clip(f1 + half, 0, 1))
        else:
            out["recall"] = out["f1"] = Interval.empty()
        if self.valued:
            if self.rows:
                mean = self._value / self.rows
                half = z * math.sqrt(self._value_var) / self.rows
                out["expected_value"] = Interval(mean, mean - half, mean + half)
            else:
                out["expected_value"] = Interval.empty()
        return out
