"""What live quality returns: a :class:`QualityReport` per window (and for the whole range) with
each metric's value and interval, and, for binary models, the calibration table (computed by
:mod:`doorstep.core.stats.quality`)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, TypeAlias

from doorstep.core.stats.intervals import Interval

__all__ = ["CalibrationBin", "QualityMetric", "QualityReport", "Task"]

Task: TypeAlias = Literal["binary", "regression", "multiclass"]
QualityMetric: TypeAlias = Literal[
    "auc", "precision", "recall", "brier", "positive_rate", "mae", "rmse", "mean_error", "accuracy"
]
"""Binary: ``auc`` to ``positive_rate``; regression: ``mae``, ``rmse``, ``mean_error``;
multiclass: ``accuracy``."""


@dataclass(frozen=True, slots=True)
class CalibrationBin:
    """One equal-width score bin: its decisions, their mean score and observed positive rate."""

    low: float
    high: float
    count: int
    mean_score: float | None
    positive_rate: Interval

    def as_dict(self) -> dict[str, Any]:
        return {
            "low": self.low,
            "high": self.high,
            "count": self.count,
            "mean_score": self.mean_score,
            "positive_rate": self.positive_rate.as_dict(),
        }


@dataclass(frozen=True, slots=True)
class QualityReport:
    """Metrics of one window (or the whole range): each an :class:`Interval`, by name."""

    task: Task
    labelled: int
    enough: bool
    metrics: Mapping[QualityMetric, Interval]
    """The task's metrics, in the order the JSON lists them."""
    counts: Mapping[str, int] = field(default_factory=dict)
    """Binary: ``positives``."""
    calibration: tuple[CalibrationBin, ...] = ()
    """Binary: the calibration table (empty for a window of the report)."""

    def metric(self, name: QualityMetric) -> Interval | None:
        """``name``'s value and interval, or ``None`` when the task has no such metric."""
        return self.metrics.get(name)

    def as_dict(self, *, calibration: bool = True) -> dict[str, Any]:
        """JSON-ready; binary reports list their ``calibration`` table unless told not to."""
        out: dict[str, Any] = {"task": self.task, "labelled": self.labelled, "enough": self.enough}
        out.update(self.counts)
        out.update({name: interval.as_dict() for name, interval in self.metrics.items()})
        if self.task == "binary" and calibration:
            out["calibration"] = [b.as_dict() for b in self.calibration]
        return out
