"""Quality thresholds derived from the reference data, NannyML's rule: the reference's labelled
rows (the model's scores beside the outcomes of the reference file) are split, in file order,
into consecutive windows of the monitored windows' size (a last, incomplete window is left
out); the metric is measured on each by the same accumulators as live quality; the threshold
is the mean of those values ``k`` population standard deviations (``ddof=0``, as NannyML)
towards worse: ``alert`` at ``mean - k·σ`` where lower is worse (AUC, precision, recall),
``mean + k·σ`` where higher is worse (Brier score, MAE, RMSE), and ``warn`` at ``k - 1``
standard deviations (none when ``k <= 1``). A model doing better than its reference is not a
breach, so only the worse side is judged (NannyML flags both sides).

Fewer than :data:`MIN_REFERENCE_WINDOWS` windows with a value give no threshold and a note
saying the reference is insufficient.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal, TypeAlias

import numpy as np
import numpy.typing as npt

from doorstep.core.stats.derived_threshold import DerivedThreshold
from doorstep.core.stats.quality import BinaryQuality, RegressionQuality
from doorstep.core.stats.quality_status import Direction, QualityThreshold

__all__ = [
    "DEFAULT_K",
    "MIN_REFERENCE_WINDOWS",
    "DerivedThreshold",
    "ReferenceLabels",
    "derive_threshold",
]

DEFAULT_K = 3.0
"""Standard deviations from the reference mean at which a window is in ``alert``."""
MIN_REFERENCE_WINDOWS = 3
"""Reference windows a derived threshold needs (fewer: no threshold, a note)."""

LabelTask: TypeAlias = Literal["binary", "regression"]
Floats = npt.NDArray[np.float64]


@dataclass(frozen=True, eq=False)
class ReferenceLabels:
    """The reference rows that hold an outcome, in file order: the model's ``scores``
    (predictions, for regression) and the ``outcomes`` (1.0 positive / 0.0 negative for a
    binary model; the value for regression)."""

    task: LabelTask
    scores: Floats
    outcomes: Floats

    def to_dict(self) -> dict[str, Any]:
        scores, outcomes = self.scores.tolist(), self.outcomes.tolist()
        return {"task": self.task, "scores": scores, "outcomes": outcomes}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ReferenceLabels:
        return cls(
            data["task"],
            np.asarray(data["scores"], dtype=np.float64),
            np.asarray(data["outcomes"], dtype=np.float64),
        )


def _values(metric: str, labels: ReferenceLabels, size: int, cutoff: float | None) -> list[float]:
    values: list[float] = []
    for start in range(0, labels.scores.size - size + 1, size):
        scores = labels.scores[start : start + size]
        outcomes = labels.outcomes[start : start + size]
        if labels.task == "binary":
            order = np.argsort(scores, kind="stable")
            scores, positive = scores[order], outcomes[order] > 0.5
            predicted = scores >= cutoff if cutoff is not None else np.zeros(size, dtype=bool)
            binary = BinaryQuality()
            binary.add(scores, positive, predicted)
            interval = binary.result().metrics.get(metric)  # type: ignore[call-overload]
        else:
            regression = RegressionQuality()
            regression.add(scores, outcomes)
            interval = regression.result().metrics.get(metric)  # type: ignore[call-overload]
        if interval is not None and interval.value is not None and interval.value == interval.value:
            values.append(float(interval.value))
    return values


def derive_threshold(
    metric: str,
    labels: ReferenceLabels | None,
    size: int,
    *,
    k: float = DEFAULT_K,
    direction: Direction,
    cutoff: float | None = None,
) -> DerivedThreshold:
    """``metric``'s threshold from ``labels`` split into windows of ``size`` rows (see the
    module docstring); ``cutoff`` is the score at which a row predicts positive (precision
    and recall)."""
    if labels is None or labels.scores.size == 0:
        return DerivedThreshold(
            metric,
            direction,
            k,
            size,
            0,
            None,
            None,
            None,
            "insufficient reference: the reference data holds no outcomes "
            "(a column named monitoring.outcome.field)",
        )
    if size < 1:
        return DerivedThreshold(
            metric,
            direction,
            k,
            size,
            0,
            None,
            None,
            None,
            "insufficient reference: no monitored window holds a labelled decision yet, so "
            "there is no window size to split the reference by",
        )
    values = _values(metric, labels, size, cutoff)
    if len(values) < MIN_REFERENCE_WINDOWS:
        return DerivedThreshold(
            metric,
            direction,
            k,
            size,
            len(values),
            None,
            None,
            None,
            f"insufficient reference: {labels.scores.size} labelled reference rows make "
            f"{len(values)} windows of {size} with a {metric}, fewer than the "
            f"{MIN_REFERENCE_WINDOWS} a threshold needs",
        )
    mean, std = float(np.mean(values)), float(np.std(values))
    sign = -1.0 if direction == "lower_is_worse" else 1.0
    warn = mean + sign * (k - 1) * std if k > 1 else None
    threshold = QualityThreshold(warn, mean + sign * k * std, direction)
    return DerivedThreshold(metric, direction, k, size, len(values), mean, std, threshold)
