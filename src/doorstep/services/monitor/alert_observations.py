"""What each monitored subject looks like in the window an alert run judges: drift of every
input and of the score (statuses from ``monitoring.drift``), attribution drift as one subject
(``drift.attribution``), and each quality metric given a threshold in
``monitoring.alerts.quality``, with how many windows in a row it has been in alert."""

from __future__ import annotations

from typing import Literal, cast

from doorstep.core.spec.alerts import ESTIMATED_REGRESSION, HIGHER_IS_WORSE, AlertsSpec
from doorstep.core.spec.models import Spec
from doorstep.core.stats.drift_report import (
    RANK,
    ColumnDrift,
    DriftThresholds,
    Status,
    Threshold,
)
from doorstep.core.stats.quality_report import QualityMetric
from doorstep.core.stats.quality_status import Direction, QualityThreshold, quality_status
from doorstep.services.monitor.alert_messages import Observation, statistic_name
from doorstep.services.monitor.quality_judgement import alert_thresholds, quality_minimum
from doorstep.types.drift import DriftSection, DriftWindow
from doorstep.types.monitoring import MonitoringReport, Window

__all__ = ["observe"]

_LEVELS: tuple[Literal["alert", "warn"], ...] = ("alert", "warn")


def observe(spec: Spec, alerts: AlertsSpec, report: MonitoringReport) -> list[Observation]:
    """The judged (last) window of ``report`` for each subject, with its alert streak."""
    window = report.window
    out: list[Observation] = []
    if alerts.drift and report.drift is not None:
        out += _drift_observations(spec, window, report.drift)
    thresholds = {str(name): given for name, given in alert_thresholds(alerts).items()}
    for name, found in report.quality.derived.items():  # derived from the reference
        if found.threshold is not None:
            thresholds[name] = found.threshold
    minimum = quality_minimum(spec, alerts)
    windows = report.quality.windows
    reviews = report.overrides.windows
    refused = report.rejects.windows if report.rejects is not None else ()
    for metric, given in thresholds.items():
        statuses: list[tuple[Status, float | None, int]] = []
        for index, (entry, reviewed) in enumerate(zip(windows, reviews, strict=True)):
            if metric == "rejected_rate":
                arrived = refused[index] if index < len(refused) else None
                count = arrived.arrived if arrived is not None else 0
                value = arrived.rate if arrived is not None else None
            elif metric == "override_rate":
                count, overridden = reviewed.reviewed, reviewed.overridden
                value = overridden / count if count else None
            else:
                count = entry.quality.labelled
                interval = entry.quality.metric(cast(QualityMetric, metric))
                value = interval.value if interval is not None else None
            judged = quality_status(value, count, minimum, given)
            statuses.append((judged or "insufficient_data", value, count))
        status, value, count = statuses[-1]
        last = windows[-1]
        threshold = given.alert if status == "alert" or given.warn is None else given.warn
        sign = ">=" if metric in HIGHER_IS_WORSE else "<="
        checks: tuple[str, ...] = ()
        if status in ("warn", "alert") and value is not None:
            checks = (f"{statistic_name(metric)} {value:.4g} {sign} {threshold:g} ({status})",)
        out.append(
            Observation(
                subject=f"quality.{metric}",
                kind="quality",
                name=metric,
                label=statistic_name(metric),
                status=status,
                statistic=metric,
                value=value,
                threshold=threshold,
                checks=checks,
                window=window,
                start=last.start,
                end=last.end,
                count=count,
                streak=_streak([s for s, _, _ in statuses]),
            )
        )
    if report.estimated is not None and report.estimated.available:
        out += _estimated_observations(spec, alerts, report)
    return out


def _estimated_observations(
    spec: Spec, alerts: AlertsSpec, report: MonitoringReport
) -> list[Observation]:
    """``estimated.<metric>``: quality estimated before outcomes, judged on each window's
    decisions against ``monitoring.alerts.estimated`` (of kind ``quality``: a retraining hook
    on quality counts them)."""
    assert report.estimated is not None
    windows = report.estimated.windows
    if not windows:
        return []
    minimum = spec.monitoring.min_samples.quality
    out: list[Observation] = []
    for metric, given in alerts.estimated.thresholds().items():
        direction: Direction = (
            "higher_is_worse" if metric in ESTIMATED_REGRESSION else "lower_is_worse"
        )
        limit = QualityThreshold(given.warn, given.alert, direction)
        statuses: list[tuple[Status, float | None, int]] = []
        for entry in windows:
            interval = entry.estimated.get(metric)
            value = interval.value if interval is not None else None
            judged = quality_status(value, entry.rows, minimum, limit)
            statuses.append((judged or "insufficient_data", value, entry.rows))
        status, value, count = statuses[-1]
        threshold = given.alert if status == "alert" or given.warn is None else given.warn
        label = f"estimated {statistic_name(metric)}"
        checks: tuple[str, ...] = ()
        if status in _LEVELS and value is not None:
            sign = ">=" if direction == "higher_is_worse" else "<="
            checks = (f"{label} {value:.4g} {sign} {threshold:g} ({status})",)
        out.append(
            Observation(
                subject=f"estimated.{metric}",
                kind="quality",
                name=metric,
                label=label,
                status=status,
                statistic=metric,
                value=value,
                threshold=threshold,
                checks=checks,
                window=report.window,
                start=windows[-1].start,
                end=windows[-1].end,
                count=count,
                streak=_streak([s for s, _, _ in statuses]),
            )
        )
    return out


def _streak(statuses: list[str]) -> int:
    count = 0
    for status in reversed(statuses):
        if status != "alert":
            break
        count += 1
    return count


def _drift_observations(spec: Spec, window: Window, drift: DriftSection) -> list[Observation]:
    windows = drift.windows
    last = windows[-1]
    names = list(drift.features)
    if any(w.score is not None for w in windows):
        names.append("score")
    out: list[Observation] = []
    fields = spec.inputs.fields
    for name in names:
        history = [_column(w, name) for w in windows]
        column = history[-1]
        status = column.status if column is not None else "insufficient_data"
        checks, statistic, value, threshold = _drift_checks(column, drift.thresholds)
        field_spec = fields.get(name)
        label = (field_spec.label if field_spec and field_spec.label else name) + (
            f" ({name})" if field_spec and field_spec.label else ""
        )
        out.append(
            Observation(
                subject=f"drift.{name}",
                kind="drift",
                name=name,
                label=label,
                status=status,
                statistic=statistic,
                value=value,
                threshold=threshold,
                checks=checks,
                window=window,
                start=last.start,
                end=last.end,
                count=last.rows,
                streak=_streak([c.status if c is not None else "" for c in history]),
            )
        )
    attribution = _attribution_observation(window, windows, drift.thresholds)
    if attribution is not None:
        out.append(attribution)
    multivariate = _multivariate_observation(window, windows, drift.thresholds)
    if multivariate is not None:
        out.append(multivariate)
    return out


def _multivariate_observation(
    window: Window, windows: tuple[DriftWindow, ...], thresholds: DriftThresholds
) -> Observation | None:
    """``drift.multivariate``: the rise of the PCA reconstruction error (``None`` when the
    reference has fewer than two inputs to rebuild from)."""
    history = [w.multivariate for w in windows]
    if not any(h is not None for h in history):
        return None
    last, current = windows[-1], history[-1]
    limits = thresholds.reconstruction_increase
    status: Status = current.status if current is not None else "insufficient_data"
    value = current.increase if current is not None else None
    level: Literal["alert", "warn"] = "warn" if status == "warn" else "alert"
    name = "rise of the PCA reconstruction error"
    checks: tuple[str, ...] = ()
    if status in _LEVELS and value is not None:
        checks = (f"{name} {value:.4g} >= {limits.limit(level):g} ({status})",)
    return Observation(
        subject="drift.multivariate",
        kind="drift",
        name="multivariate",
        label="the inputs taken together (multivariate drift)",
        status=status,
        statistic="reconstruction_increase",
        value=value,
        threshold=limits.limit(level),
        checks=checks,
        window=window,
        start=last.start,
        end=last.end,
        count=current.rows if current is not None else 0,
        streak=_streak([h.status if h is not None else "" for h in history]),
    )


def _attribution_observation(
    window: Window, windows: tuple[DriftWindow, ...], thresholds: DriftThresholds
) -> Observation | None:
    """``drift.attribution``: how the model's attention (each feature's share of mean
    |contribution|) moved, a subject of its own since a feature's own status judges its values
    only. ``None`` when no window of the report was explained."""
    history = [w.attribution for w in windows]
    if not any(history):
        return None
    last, current = windows[-1], history[-1]
    limits = thresholds.attribution_share_change
    found: list[tuple[float, str, Literal["alert", "warn"]]] = []
    for share in current.features if current is not None else ():
        if share.status in _LEVELS and share.share_change is not None:
            level: Literal["alert", "warn"] = "alert" if share.status == "alert" else "warn"
            found.append((abs(share.share_change), share.feature, level))
    found.sort(reverse=True)
    name = statistic_name("attribution_share_change")
    checks = tuple(
        f"{name} of {feature} {value:.4g} >= {limits.limit(level):g} ({level})"
        for value, feature, level in found
    )
    value = found[0][0] if found else (current.shift if current is not None else None)
    worst = found[0][2] if found else "alert"
    return Observation(
        subject="drift.attribution",
        kind="drift",
        name="attribution",
        label="the model's attention (attribution shares)",
        status=current.status if current is not None else "insufficient_data",
        statistic="attribution_share_change",
        value=value,
        threshold=limits.limit(worst),
        checks=checks,
        window=window,
        start=last.start,
        end=last.end,
        count=last.rows,
        streak=_streak([h.status if h is not None else "" for h in history]),
    )


def _column(window: DriftWindow, name: str) -> ColumnDrift | None:
    return window.score if name == "score" else window.column(name)


def _statistics(
    column: ColumnDrift, limits: DriftThresholds
) -> tuple[tuple[str, float | None, Threshold], ...]:
    """The statistics a window's column is judged on, with their thresholds."""
    return (
        ("psi", column.psi, limits.psi),
        ("js_distance", column.js_distance, limits.js_distance),
        ("wasserstein_norm", column.wasserstein_norm, limits.wasserstein_norm),
        ("out_of_range_rate", column.out_of_range_rate, limits.out_of_range_rate),
        ("unseen_rate", column.unseen_rate, limits.unseen_rate),
    )


def _drift_checks(
    column: ColumnDrift | None, thresholds: DriftThresholds
) -> tuple[tuple[str, ...], str | None, float | None, float | None]:
    """The thresholds a window's column crosses, worst first, and the first one's statistic,
    value and threshold (else PSI's value and alert threshold)."""
    found: list[tuple[int, str, float, float, str]] = []
    for statistic, value, limits in _statistics(column, thresholds) if column is not None else ():
        if value is None:
            continue
        for level in _LEVELS:
            if value >= limits.limit(level):
                found.append((RANK[level], statistic, float(value), limits.limit(level), level))
                break
    found.sort(key=lambda f: -f[0])
    checks = tuple(f"{statistic_name(s)} {v:.4g} >= {t:g} ({lvl})" for _, s, v, t, lvl in found)
    if found:
        _, statistic, value, threshold, _ = found[0]
        return checks, statistic, value, threshold
    return checks, "psi", column.psi if column is not None else None, thresholds.psi.alert
