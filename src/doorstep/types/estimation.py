"""The estimated-quality section of a monitoring report: each window's quality estimated before
any outcome is known, beside the realised quality once outcomes arrive. Binary classifiers:
from the decisions' calibrated scores (confidence-based performance estimation,
:mod:`doorstep.core.stats.estimate`), with the calibration it stands on and how well that was
checked; regression models: from loss regressors fitted on the reference (direct loss
estimation, :mod:`doorstep.core.stats.loss_estimate`), with the reference's own errors."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from doorstep.core.stats.drift_report import Status, worst_status
from doorstep.core.stats.intervals import Interval
from doorstep.core.stats.quality_status import QualityThreshold

__all__ = ["CalibrationCheck", "EstimatedWindow", "EstimationSection", "LossCheck"]


@dataclass(frozen=True, slots=True)
class CalibrationCheck:
    """How the scores were calibrated on the reference labels, and how well (expected
    calibration error of the raw scores and of the scores calibrated out of fold)."""

    method: str
    """``isotonic``, or ``none`` when calibrating did not lower the error."""
    rows: int
    positives: int
    ece_raw: float
    ece_calibrated: float

    def to_dict(self) -> dict[str, Any]:
        return {
            "method": self.method,
            "rows": self.rows,
            "positives": self.positives,
            "ece_raw": self.ece_raw,
            "ece_calibrated": self.ece_calibrated,
        }


@dataclass(frozen=True, slots=True)
class LossCheck:
    """What the loss models of a regression model were fitted on: the reference rows with an
    outcome, and the model's realised MAE and RMSE on them."""

    rows: int
    reference_mae: float
    reference_rmse: float

    def to_dict(self) -> dict[str, Any]:
        return {
            "rows": self.rows,
            "reference_mae": self.reference_mae,
            "reference_rmse": self.reference_rmse,
        }


@dataclass(frozen=True, slots=True)
class EstimatedWindow:
    """One window: each metric estimated (with its sampling interval), the realised one when
    outcomes are known, and their judgement."""

    start: datetime
    end: datetime
    rows: int
    """Decisions the estimate is made from."""
    estimated: Mapping[str, Interval]
    realised: Mapping[str, Interval]
    """The same metrics measured on the window's labelled decisions (enough of them:
    ``monitoring.min_samples.quality``); absent otherwise."""
    statuses: Mapping[str, Status | None] = field(default_factory=dict)
    """Each estimated metric against ``monitoring.alerts.estimated`` (``None``: no threshold)."""
    diverged: tuple[str, ...] = ()
    """Metrics whose realised value lies outside the estimate's interval and whose own interval
    misses it too: the calibration (or the loss models) no longer holds (concept drift, see
    monitoring.md)."""

    @property
    def status(self) -> Status | None:
        judged = [s for s in self.statuses.values() if s is not None]
        return worst_status(judged) if judged else None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "start": self.start.isoformat(),
            "end": self.end.isoformat(),
            "rows": self.rows,
            "status": self.status,
        }
        for name, interval in self.estimated.items():
            realised = self.realised.get(name)
            out[name] = {
                **interval.as_dict(),
                "status": self.statuses.get(name),
                "realised": None if realised is None else realised.as_dict(),
            }
        out["diverged"] = list(self.diverged)
        return out


@dataclass(frozen=True, slots=True)
class EstimationSection:
    """Estimated quality per window, or why there is none (``note``)."""

    available: bool
    note: str | None
    calibration: CalibrationCheck | None
    predicted: str
    """What counts as a positive prediction: ``action`` (the policy chose an action other than
    ``none``) or ``score >= t`` (``monitoring.threshold``); for regression, ``score`` (the
    prediction whose error is estimated)."""
    windows: tuple[EstimatedWindow, ...] = ()
    thresholds: Mapping[str, QualityThreshold] = field(default_factory=dict)
    min_rows: int = 0
    """Decisions a window needs before its estimates are judged."""
    method: str = "cbpe"
    """``cbpe`` (binary classifiers) or ``dle`` (regression: direct loss estimation)."""
    loss: LossCheck | None = None
    """What the loss models were fitted on (``dle`` only)."""

    @property
    def status(self) -> Status | None:
        """The worst judged window's (``None`` without thresholds)."""
        if not self.thresholds:
            return None
        return worst_status(w.status for w in self.windows if w.status is not None)

    @property
    def diverged(self) -> bool:
        return any(w.diverged for w in self.windows)

    def to_dict(self) -> dict[str, Any]:
        return {
            "available": self.available,
            "note": self.note,
            "method": self.method if self.available else None,
            "calibration": None if self.calibration is None else self.calibration.to_dict(),
            "loss": None if self.loss is None else self.loss.to_dict(),
            "predicted": self.predicted,
            "thresholds": {name: t.as_dict() for name, t in self.thresholds.items()},
            "min_rows": self.min_rows,
            "status": self.status,
            "windows": [w.to_dict() for w in self.windows],
        }
