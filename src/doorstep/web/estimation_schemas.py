"""The ``estimated`` section of ``GET /v1/apps/{app}/monitoring`` (quality estimated before
outcomes; see ``docs/monitoring.md``, Estimated quality)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel

__all__ = ["EstimatedOut"]

Judged = Literal["ok", "warn", "alert", "insufficient_data"]


class RealisedOut(BaseModel):
    value: float | None
    low: float | None
    high: float | None


class EstimatedMetricOut(BaseModel):
    """A metric estimated from the calibrated scores, with its 95% sampling interval, its
    status against ``monitoring.alerts.estimated`` and the realised value once known."""

    value: float | None
    low: float | None
    high: float | None
    status: Judged | None
    realised: RealisedOut | None


class EstimatedWindowOut(BaseModel):
    start: str
    end: str
    rows: int
    """Decisions the estimate is made from."""
    status: Judged | None
    diverged: list[str]
    """Metrics whose realised value lies outside the estimate's interval (concept drift)."""
    auc: EstimatedMetricOut | None = None
    precision: EstimatedMetricOut | None = None
    recall: EstimatedMetricOut | None = None
    f1: EstimatedMetricOut | None = None
    expected_value: EstimatedMetricOut | None = None
    mae: EstimatedMetricOut | None = None
    """Regression: mean absolute error estimated by the loss models."""
    rmse: EstimatedMetricOut | None = None
    """Regression: root mean squared error estimated by the loss models."""


class CalibrationOut(BaseModel):
    method: Literal["isotonic", "none"]
    rows: int
    positives: int
    ece_raw: float
    ece_calibrated: float
    """Expected calibration error of the scores calibrated out of fold."""


class LossOut(BaseModel):
    """What a regression model's loss models were fitted on (``method: dle``)."""

    rows: int
    reference_mae: float
    reference_rmse: float


class EstimatedThresholdOut(BaseModel):
    warn: float | None
    alert: float | None
    direction: Literal["lower_is_worse", "higher_is_worse"]


class EstimatedOut(BaseModel):
    """Quality estimated before outcomes, or why it is not (``available: false``)."""

    available: bool
    note: str | None
    method: Literal["cbpe", "dle"] | None
    """``cbpe``: binary classifiers' calibrated scores; ``dle``: regression models' errors
    predicted by loss models fitted on the reference."""
    calibration: CalibrationOut | None
    loss: LossOut | None = None
    predicted: str
    """A positive prediction: ``action`` or ``score >= t`` (regression: ``score``)."""
    thresholds: dict[str, EstimatedThresholdOut]
    min_rows: int
    status: Judged | None
    windows: list[EstimatedWindowOut]
