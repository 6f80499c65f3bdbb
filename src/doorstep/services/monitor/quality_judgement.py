"""Live quality judged: each metric of each window of the monitoring report (and of the whole
range) given a status against the spec's quality thresholds, ``monitoring.alerts.quality``, by
the one rule of :func:`doorstep.core.stats.quality_status.quality_status`. The alert planner
judges its subjects with the same thresholds, minimum and rule, so a window the report shows at
``alert`` is the window an alert run raises on.

A metric given ``from_reference: true`` is judged against thresholds derived from the
reference (:mod:`doorstep.core.stats.reference_thresholds`), split into windows of
:func:`reference_window_size` rows."""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import replace

from doorstep.core.spec.alerts import HIGHER_IS_WORSE, AlertedMetric, AlertsSpec
from doorstep.core.spec.models import Spec
from doorstep.core.stats.drift_report import Status, worst_status
from doorstep.core.stats.quality_report import QualityReport
from doorstep.core.stats.quality_status import Direction, QualityThreshold, quality_status
from doorstep.core.stats.reference_thresholds import (
    DEFAULT_K,
    DerivedThreshold,
    ReferenceLabels,
    derive_threshold,
)
from doorstep.core.windows import WindowSize
from doorstep.types.monitoring import Overrides, QualitySection, QualityWindow

__all__ = [
    "alert_thresholds",
    "derived_thresholds",
    "judge_quality",
    "quality_minimum",
    "quality_thresholds",
    "reference_window_size",
]


def quality_thresholds(spec: Spec) -> dict[str, QualityThreshold]:
    """The spec's quality thresholds by metric (none without ``monitoring.alerts``)."""
    return {str(name): given for name, given in alert_thresholds(spec.monitoring.alerts).items()}


def alert_thresholds(alerts: AlertsSpec | None) -> dict[AlertedMetric, QualityThreshold]:
    """The quality thresholds of ``alerts`` by metric (those derived from the reference are
    in :func:`derived_thresholds`)."""
    if alerts is None:
        return {}
    return {
        name: QualityThreshold(given.warn, given.alert, _direction(name))
        for name, given in alerts.quality.thresholds().items()
        if not given.from_reference
    }


def _direction(name: str) -> Direction:
    return "higher_is_worse" if name in HIGHER_IS_WORSE else "lower_is_worse"


def reference_window_size(size: WindowSize, windows: Sequence[QualityWindow]) -> int:
    """Rows per reference window: ``N`` for windows of N rows; for calendar windows, the
    median labelled count of the monitored windows holding any (0 when none does)."""
    if size.by_rows:
        return size.rows
    counts = [w.quality.labelled for w in windows if w.quality.labelled > 0]
    return round(statistics.median(counts)) if counts else 0


def derived_thresholds(
    spec: Spec, labels: ReferenceLabels | None, size: int
) -> dict[str, DerivedThreshold]:
    """The thresholds the spec derives from the reference (``from_reference: true``), by
    metric, each measured on reference windows of ``size`` rows."""
    alerts = spec.monitoring.alerts
    if alerts is None:
        return {}
    return {
        str(name): derive_threshold(
            name,
            labels,
            size,
            k=given.k if given.k is not None else DEFAULT_K,
            direction=_direction(name),
            cutoff=spec.monitoring.threshold,
        )
        for name, given in alerts.quality.thresholds().items()
        if given.from_reference
    }


def quality_minimum(spec: Spec, alerts: AlertsSpec | None = None) -> int:
    """Labelled decisions (verdicts, for the override rate) a window needs to be judged:
    ``monitoring.alerts.quality.min_labelled``, else ``monitoring.min_samples.quality``."""
    alerts = alerts or spec.monitoring.alerts
    given = alerts.quality.min_labelled if alerts is not None else None
    return given or spec.monitoring.min_samples.quality


def _statuses(
    report: QualityReport, thresholds: dict[str, QualityThreshold], minimum: int
) -> dict[str, Status | None]:
    return {
        name: quality_status(interval.value, report.labelled, minimum, thresholds.get(name))
        for name, interval in report.metrics.items()
    }


def _window(
    entry: QualityWindow, thresholds: dict[str, QualityThreshold], minimum: int
) -> QualityWindow:
    statuses = _statuses(entry.quality, thresholds, minimum)
    judged = [s for name, s in statuses.items() if name in thresholds and s is not None]
    return replace(entry, statuses=statuses, status=worst_status(judged) if judged else None)


def judge_quality(
    spec: Spec,
    quality: QualitySection,
    overrides: Overrides,
    derived: dict[str, DerivedThreshold] | None = None,
) -> tuple[QualitySection, Overrides]:
    """``quality`` and ``overrides`` with every metric's status (see the module docstring),
    the metrics ``derived`` from the reference judged against their derived thresholds."""
    derived = derived or {}
    thresholds = quality_thresholds(spec)
    for name, found in derived.items():
        if found.threshold is not None:
            thresholds[name] = found.threshold
    minimum = quality_minimum(spec)
    judged = replace(
        quality,
        windows=tuple(_window(w, thresholds, minimum) for w in quality.windows),
        thresholds=thresholds,
        derived=derived,
        min_labelled=minimum,
        total_statuses=_statuses(quality.total, thresholds, minimum),
    )
    limit = thresholds.get("override_rate")
    if limit is None:
        return judged, overrides
    windows = tuple(
        replace(w, status=quality_status(w.override_rate.value, w.reviewed, minimum, limit))
        for w in overrides.windows
    )
    return judged, replace(overrides, windows=windows)
