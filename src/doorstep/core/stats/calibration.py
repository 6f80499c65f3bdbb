"""Scores turned into probabilities: the calibration quality estimation stands on.

Confidence-based performance estimation (:mod:`doorstep.core.stats.estimate`) reads a calibrated
score as the chance that the decision's outcome is positive. A model's raw score often is not
one (boosted trees are over-confident, a class-weighted model is shifted), so the map is fitted
on the reference data's scores and labels:

- **isotonic regression** (pool-adjacent-violators): the monotone step function of the score
  closest to the labels, interpolated linearly between the ends of its steps and clipped outside
  the reference's scores — the calibrator NannyML's CBPE uses;
- **checked out of fold**: the reference is split in five seeded folds; each fold is calibrated
  by a map fitted on the other four, and the expected calibration error (ECE: equal-count bins,
  the bins' weighted mean |mean score − positive rate|) of the raw and of the out-of-fold
  calibrated scores are compared. The map is used only when it lowers the ECE in every fold
  (NannyML's rule); otherwise the raw scores are taken as they are (``method`` ``none``). The
  errors over all folds are kept and shown.

A calibration is a few hundred numbers, kept in the reference profile as JSON.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal, TypeAlias

import numpy as np
import numpy.typing as npt

__all__ = [
    "CalibrationMethod",
    "ScoreCalibration",
    "expected_calibration_error",
    "fit_calibration",
    "isotonic_fit",
]

Floats = npt.NDArray[np.float64]
CalibrationMethod: TypeAlias = Literal["isotonic", "none"]
FOLDS = 5
ECE_BINS = 10
SEED = 20_260_101


def isotonic_fit(scores: Floats, labels: Floats) -> tuple[Floats, Floats]:
    """The non-decreasing step function of ``scores`` nearest ``labels`` (least squares), as
    points ``(x, y)`` to interpolate between: each step's lowest and highest score."""
    order = np.argsort(scores, kind="stable")
    x, y = scores[order], labels[order]
    starts = np.flatnonzero(np.r_[True, x[1:] != x[:-1]])
    weights = np.diff(np.r_[starts, x.size]).astype(np.float64)
    sums = np.add.reduceat(y, starts)
    xs = x[starts]
    # pool adjacent violators over the distinct scores: a stack of blocks
    block_sum: list[float] = []
    block_weight: list[float] = []
    block_first: list[int] = []
    for i in range(xs.size):
        total, weight, first = float(sums[i]), float(weights[i]), i
        while block_sum and block_sum[-1] / block_weight[-1] >= total / weight:
            total += block_sum.pop()
            weight += block_weight.pop()
            first = block_first.pop()
        block_sum.append(total)
        block_weight.append(weight)
        block_first.append(first)
    firsts = np.asarray(block_first, dtype=np.int64)
    lasts = np.r_[firsts[1:] - 1, xs.size - 1]
    values = np.asarray(block_sum) / np.asarray(block_weight)
    points_x = np.column_stack([xs[firsts], xs[lasts]]).ravel()
    points_y = np.repeat(values, 2)
    keep = np.r_[True, points_x[1:] != points_x[:-1]]  # one-score steps give one point
    return points_x[keep], points_y[keep]


def expected_calibration_error(scores: Floats, labels: Floats, bins: int = ECE_BINS) -> float:
    """ECE over ``bins`` bins of equal count (sorted by score)."""
    order = np.argsort(scores, kind="stable")
    parts = np.array_split(np.arange(scores.size), min(bins, max(1, scores.size)))
    total = 0.0
    for part in parts:
        if part.size:
            chosen = order[part]
            total += part.size * abs(float(scores[chosen].mean() - labels[chosen].mean()))
    return total / scores.size if scores.size else 0.0


@dataclass(frozen=True, eq=False)
class ScoreCalibration:
    """The map from score to probability of a positive outcome, and how well it was checked."""

    method: CalibrationMethod
    """``isotonic``: the fitted map is applied; ``none``: scores are used as they are."""
    x: Floats
    y: Floats
    rows: int
    """Reference rows with a label it was fitted on."""
    positives: int
    ece_raw: float
    """ECE of the raw reference scores."""
    ece_calibrated: float
    """ECE of the reference scores calibrated out of fold (what the map achieves on rows it
    was not fitted on)."""

    def apply(self, scores: Floats) -> Floats:
        """Probabilities of a positive outcome for ``scores`` (clipped to ``[0, 1]``)."""
        scores = np.asarray(scores, dtype=np.float64)
        if self.method == "none" or self.x.size == 0:
            return np.clip(scores, 0.0, 1.0)
        return np.interp(scores, self.x, self.y)

    def to_dict(self) -> dict[str, Any]:
        return {
            "method": self.method,
            "x": self.x.tolist(),
            "y": self.y.tolist(),
            "rows": self.rows,
            "positives": self.positives,
            "ece_raw": self.ece_raw,
            "ece_calibrated": self.ece_calibrated,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ScoreCalibration:
        return cls(
            data["method"],
            np.asarray(data["x"], dtype=np.float64),
            np.asarray(data["y"], dtype=np.float64),
            int(data["rows"]),
            int(data["positives"]),
            float(data["ece_raw"]),
            float(data["ece_calibrated"]),
        )


def fit_calibration(scores: Floats, positive: npt.NDArray[np.bool_]) -> ScoreCalibration:
    """Fit and check the calibration of ``scores`` against whether each outcome was positive
    (rows with a non-finite score are left out). Raises ``ValueError`` when both outcomes are
    not present."""
    scores = np.asarray(scores, dtype=np.float64)
    labels = np.asarray(positive, dtype=np.float64)
    finite = np.isfinite(scores)
    scores, labels = scores[finite], labels[finite]
    positives = int(labels.sum())
    if positives == 0 or positives == labels.size:
        raise ValueError(
            f"the reference labels hold {positives} positive outcomes of {labels.size}: "
            "calibration needs both outcomes"
        )
    ece_raw = expected_calibration_error(scores, labels)
    folds = np.random.default_rng(SEED).integers(0, FOLDS, scores.size)
    out_of_fold = np.empty_like(scores)
    better = True
    for fold in range(FOLDS):
        held = folds == fold
        if not held.any() or held.all():
            out_of_fold[held] = scores[held]
            continue
        x, y = isotonic_fit(scores[~held], labels[~held])
        out_of_fold[held] = np.interp(scores[held], x, y)
        before = expected_calibration_error(scores[held], labels[held])
        better &= expected_calibration_error(out_of_fold[held], labels[held]) < before
    ece_calibrated = expected_calibration_error(out_of_fold, labels)
    x, y = isotonic_fit(scores, labels)
    method: CalibrationMethod = "isotonic" if better else "none"
    if method == "none":
        x, y = np.empty(0), np.empty(0)
    return ScoreCalibration(method, x, y, int(labels.size), positives, ece_raw, ece_calibrated)
