"""Estimated quality in the monitoring report: each window's decisions counted as they pass
through the drift monitor's pages (:class:`EstimationObserver`, the same window frames drift
sees), then set beside the realised quality and judged (:func:`estimation_section`).

**What a positive prediction is.** With ``monitoring.threshold`` set, a score at or above it;
without it, the policy's choice of an action other than ``none`` (the decision's ``action``,
control group included: the model asked to act). The same rule as realised precision and
recall, so the two lines compare like with like.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime

import numpy as np
import polars as pl

from doorstep.core.spec.models import Spec
from doorstep.core.stats.calibration import ScoreCalibration
from doorstep.core.stats.estimate import EstimatedQuality
from doorstep.core.stats.intervals import Interval, z_value
from doorstep.core.stats.loss_estimate import ESTIMATED_LOSSES, LossModel
from doorstep.core.stats.quality_status import QualityThreshold, quality_status
from doorstep.types.estimation import (
    CalibrationCheck,
    EstimatedWindow,
    EstimationSection,
    LossCheck,
)
from doorstep.types.monitoring import QualityWindow

__all__ = [
    "EstimationObserver",
    "RealisedValue",
    "estimated_thresholds",
    "estimation_section",
    "loss_section",
    "predicted_rule",
    "unavailable",
]


def predicted_rule(spec: Spec) -> str:
    if spec.model.task == "regression":
        return "score"
    threshold = spec.monitoring.threshold
    return "action" if threshold is None else f"score >= {threshold:g}"


def _predicted(spec: Spec, frame: pl.DataFrame) -> np.ndarray:
    threshold = spec.monitoring.threshold
    if threshold is not None:
        return frame["score"].fill_null(-np.inf).to_numpy() >= threshold
    return (frame["action"].fill_null("none") != "none").to_numpy()


def _valued(spec: Spec) -> bool:
    return any(a.value is not None or a.cost is not None for a in spec.actions.values())


def _economics(spec: Spec, actions: pl.Series) -> tuple[np.ndarray, np.ndarray]:
    """Each decision's action's value and cost (0 for ``none`` and unknown actions)."""
    names = list(spec.actions)
    values = [float(spec.actions[n].value or 0.0) for n in names]
    costs = [float(spec.actions[n].cost or 0.0) for n in names]
    text = actions.fill_null("none")
    value = text.replace_strict(names, values, default=0.0, return_dtype=pl.Float64)
    cost = text.replace_strict(names, costs, default=0.0, return_dtype=pl.Float64)
    return value.to_numpy(), cost.to_numpy()


class EstimationObserver:
    """Feeds each window's decisions to an :class:`EstimatedQuality` and keeps its result."""

    def __init__(self, spec: Spec, calibration: ScoreCalibration) -> None:
        self.spec, self.calibration = spec, calibration
        self.valued = _valued(spec)
        self._open: dict[int, EstimatedQuality] = {}
        self.results: dict[int, tuple[int, dict[str, Interval]]] = {}

    def update(self, index: int, frame: pl.DataFrame) -> None:
        accumulator = self._open.get(index)
        if accumulator is None:
            accumulator = self._open[index] = EstimatedQuality(self.calibration, valued=self.valued)
        value, cost = _economics(self.spec, frame["action"]) if self.valued else (None, None)
        accumulator.add(
            frame["score"].fill_null(np.nan).to_numpy(), _predicted(self.spec, frame), value, cost
        )

    def finish(self, index: int) -> None:
        accumulator = self._open.pop(index, None)
        if accumulator is not None:
            self.results[index] = (accumulator.rows, accumulator.result())


class RealisedValue:
    """The realised value per labelled decision, per window: an acted decision is worth its
    action's ``value`` when the outcome was positive, less its ``cost`` (the estimate's rule
    with the outcome in place of its probability)."""

    def __init__(self, spec: Spec) -> None:
        self.spec = spec
        self.enabled = _valued(spec)
        self._sums: dict[int, list[float]] = {}

    def add(self, frame: pl.DataFrame) -> None:
        """Labelled decisions with their ``window`` index and whether each was ``positive``."""
        if not self.enabled or frame.height == 0:
            return
        value, cost = _economics(self.spec, frame["action"])
        worth = value * frame["positive"].to_numpy() - cost
        windows = frame["window"].to_numpy()
        for index in np.unique(windows):
            part = worth[windows == index]
            sums = self._sums.setdefault(int(index), [0.0, 0.0, 0.0])
            sums[0] += part.size
            sums[1] += float(part.sum())
            sums[2] += float(np.dot(part, part))

    def result(self, index: int) -> Interval | None:
        sums = self._sums.get(index)
        if sums is None or sums[0] < 2:
            return None
        n, total, squares = sums
        mean = total / n
        variance = max(0.0, (squares - total * total / n) / (n - 1))
        half = z_value() * (variance / n) ** 0.5
        return Interval(mean, mean - half, mean + half)


def estimated_thresholds(spec: Spec) -> dict[str, QualityThreshold]:
    alerts = spec.monitoring.alerts
    if alerts is None:
        return {}
    return {
        name: QualityThreshold(
            given.warn,
            given.alert,
            "higher_is_worse" if name in ESTIMATED_LOSSES else "lower_is_worse",
        )
        for name, given in alerts.estimated.thresholds().items()
    }


def unavailable(spec: Spec, note: str) -> EstimationSection:
    return EstimationSection(False, note, None, predicted_rule(spec))


def _realised(quality: QualityWindow, minimum: int, value: Interval | None) -> dict[str, Interval]:
    report = quality.quality
    if report.labelled < minimum:
        return {}
    if report.task == "regression":
        return {
            name: interval for name, interval in report.metrics.items() if name in ESTIMATED_LOSSES
        }
    if report.task != "binary":
        return {}
    out = {name: report.metrics[name] for name in ("auc", "precision", "recall")}
    precision, recall = out["precision"].value, out["recall"].value
    if precision is not None and recall is not None:
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        out["f1"] = Interval(f1, None, None)
    if value is not None:
        out["expected_value"] = value
    return out


def _diverged(
    estimated: Mapping[str, Interval], realised: Mapping[str, Interval]
) -> tuple[str, ...]:
    found = []
    for name, measured in realised.items():
        guess = estimated.get(name)
        if guess is None or guess.low is None or guess.high is None or measured.value is None:
            continue
        low = measured.low if measured.low is not None else measured.value
        high = measured.high if measured.high is not None else measured.value
        if high < guess.low or low > guess.high:
            found.append(name)
    return tuple(found)


def estimation_section(
    spec: Spec,
    calibration: ScoreCalibration,
    observer: EstimationObserver,
    bounds: Sequence[tuple[datetime, datetime]],
    quality: Sequence[QualityWindow],
    realised_value: RealisedValue,
) -> EstimationSection:
    """The estimated windows of ``bounds`` beside the realised ``quality`` windows, judged."""
    thresholds = estimated_thresholds(spec)
    minimum = spec.monitoring.min_samples.quality
    windows = _windows(
        spec,
        observer.results,
        bounds,
        [_realised(quality[i], minimum, realised_value.result(i)) for i in range(len(bounds))],
    )
    return EstimationSection(
        available=True,
        note=None,
        calibration=CalibrationCheck(
            calibration.method,
            calibration.rows,
            calibration.positives,
            calibration.ece_raw,
            calibration.ece_calibrated,
        ),
        predicted=predicted_rule(spec),
        windows=windows,
        thresholds=thresholds,
        min_rows=minimum,
    )


def loss_section(
    spec: Spec,
    model: LossModel,
    results: Mapping[int, tuple[int, dict[str, Interval]]],
    bounds: Sequence[tuple[datetime, datetime]],
    quality: Sequence[QualityWindow],
) -> EstimationSection:
    """A regression model's estimated MAE and RMSE per window (``results`` of a
    :class:`~doorstep.services.monitor.loss_model.LossObserver`) beside the realised ones."""
    minimum = spec.monitoring.min_samples.quality
    windows = _windows(
        spec, results, bounds, [_realised(quality[i], minimum, None) for i in range(len(bounds))]
    )
    return EstimationSection(
        available=True,
        note=None,
        calibration=None,
        predicted=predicted_rule(spec),
        windows=windows,
        thresholds=estimated_thresholds(spec),
        min_rows=minimum,
        method="dle",
        loss=LossCheck(model.rows, model.reference_mae, model.reference_rmse),
    )


def _windows(
    spec: Spec,
    results: Mapping[int, tuple[int, dict[str, Interval]]],
    bounds: Sequence[tuple[datetime, datetime]],
    realised_by_window: Sequence[dict[str, Interval]],
) -> tuple[EstimatedWindow, ...]:
    thresholds = estimated_thresholds(spec)
    minimum = spec.monitoring.min_samples.quality
    windows = []
    for index, (start, end) in enumerate(bounds):
        rows, estimated = results.get(index, (0, {}))
        realised = realised_by_window[index]
        statuses = {
            name: quality_status(interval.value, rows, minimum, thresholds.get(name))
            for name, interval in estimated.items()
        }
        for name in thresholds:  # a window without decisions has nothing to judge
            statuses.setdefault(name, "insufficient_data")
        windows.append(
            EstimatedWindow(
                start, end, rows, estimated, realised, statuses, _diverged(estimated, realised)
            )
        )
    return tuple(windows)
