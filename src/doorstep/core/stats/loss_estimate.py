"""Regression quality estimated before outcomes arrive: direct loss estimation (DLE).

Two regressors are fitted on the reference data (by the monitoring service: the core loads no
model library): from the inputs and the production model's prediction, one predicts each row's
**absolute error** ``|y - ŷ|``, the other its **squared error** ``(y - ŷ)²``. Applied to a
window's decisions, with no outcome known, they give:

- estimated MAE: the mean of the predicted absolute errors;
- estimated RMSE: the square root of the mean of the predicted squared errors (clipped at 0).

**Intervals** are sampling intervals (95%): how far the realised metric of a window of ``n``
decisions may fall from the estimate by chance while the loss models hold. Each row's realised
error scatters around its prediction about as the reference's errors scatter, so the
half-width is ``z · sd / √n`` with ``sd`` the standard deviation of the reference's realised
absolute errors (MAE) or squared errors (the mean squared error, whose bounds are then rooted
for RMSE): NannyML's DLE rule (its sampling error is ``sd / √n``; it draws ±3 of them, doorstep
±1.96). The intervals do not include the error of the loss models themselves, nor a change in
how outcomes follow from inputs (concept drift): see ``docs/monitoring.md``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from doorstep.core.stats.intervals import CONFIDENCE, Interval, z_value

__all__ = ["ESTIMATED_LOSSES", "EstimatedLoss", "LossModel"]

Floats = npt.NDArray[np.float64]
ESTIMATED_LOSSES = ("mae", "rmse")
"""What a regression window's estimate holds."""


@dataclass(frozen=True)
class LossModel:
    """What estimating a regression model's loss needs, fitted on the reference: the two loss
    regressors (LightGBM's text format, opaque to the core) and the reference's error spread."""

    features: tuple[str, ...]
    """The inputs the loss models read, in order (the prediction ``score`` follows them)."""
    categories: Mapping[str, tuple[str, ...]]
    """Each categorical input's reference categories; a value's code is its position (an
    unseen one is missing)."""
    absolute: str
    """The regressor of ``|y - ŷ|``."""
    squared: str
    """The regressor of ``(y - ŷ)²``."""
    rows: int
    """Reference rows with an outcome the models were fitted on."""
    absolute_sd: float
    squared_sd: float
    reference_mae: float
    reference_rmse: float
    params: Mapping[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "features": list(self.features),
            "categories": {k: list(v) for k, v in self.categories.items()},
            "absolute": self.absolute,
            "squared": self.squared,
            "rows": self.rows,
            "absolute_sd": self.absolute_sd,
            "squared_sd": self.squared_sd,
            "reference_mae": self.reference_mae,
            "reference_rmse": self.reference_rmse,
            "params": dict(self.params),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> LossModel:
        return cls(
            tuple(data["features"]),
            {k: tuple(v) for k, v in data["categories"].items()},
            str(data["absolute"]),
            str(data["squared"]),
            int(data["rows"]),
            float(data["absolute_sd"]),
            float(data["squared_sd"]),
            float(data["reference_mae"]),
            float(data["reference_rmse"]),
            dict(data.get("params", {})),
        )


class EstimatedLoss:
    """The predicted losses of one window, fed chunk by chunk in any order."""

    def __init__(
        self, absolute_sd: float, squared_sd: float, *, confidence: float = CONFIDENCE
    ) -> None:
        self.absolute_sd, self.squared_sd, self.confidence = absolute_sd, squared_sd, confidence
        self.rows = 0
        self._absolute = 0.0
        self._squared = 0.0

    def add(self, absolute: Floats, squared: Floats) -> None:
        """One chunk: each decision's predicted absolute and squared error (non-finite
        predictions, from a missing prediction, are left out)."""
        absolute = np.asarray(absolute, dtype=np.float64)
        squared = np.asarray(squared, dtype=np.float64)
        keep = np.isfinite(absolute) & np.isfinite(squared)
        if not keep.all():
            absolute, squared = absolute[keep], squared[keep]
        self.rows += absolute.size
        # a regressor of a non-negative target may still predict a little below 0
        self._absolute += float(np.maximum(absolute, 0.0).sum())
        self._squared += float(np.maximum(squared, 0.0).sum())

    def result(self) -> dict[str, Interval]:
        """``mae`` and ``rmse`` with their sampling intervals (empty without decisions)."""
        if self.rows == 0:
            return {name: Interval.empty() for name in ESTIMATED_LOSSES}
        z = z_value(self.confidence)
        root = math.sqrt(self.rows)
        mae = self._absolute / self.rows
        half = z * self.absolute_sd / root
        mse = self._squared / self.rows
        spread = z * self.squared_sd / root
        return {
            "mae": Interval(mae, max(0.0, mae - half), mae + half),
            "rmse": Interval(
                math.sqrt(mse), math.sqrt(max(0.0, mse - spread)), math.sqrt(mse + spread)
            ),
        }
