"""What each monitored subject looks like in the window an alert run judges: drift of every
input and of the score (statuses from ``monitoring.drift``), attribution drift as one subject
(``drift.attribution``), and each quality metric given a threshold in
``monitoring.alerts.quality``, with how many windows in a row it has been in alert."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from doorstep.core.spec.alerts import HIGHER_IS_WORSE, AlertsSpec
from doorstep.core.spec.models import Spec
from doorstep.services.monitor.alert_messages import Observation, statistic_name
from doorstep.store.protocols import OutcomeStore

__all__ = ["RANK", "observe"]

RANK = {"ok": 0, "warn": 1, "alert": 2}
_DRIFT_STATISTICS = ("psi", "js_distance", "wasserstein_norm", "out_of_range_rate", "unseen_rate")


def observe(
    spec: Spec, alerts: AlertsSpec, report: dict[str, Any], store: OutcomeStore
) -> list[Observation]:
    """The judged (last) window of ``report`` for each subject, with its alert streak."""
    window = report["window"]
    out: list[Observation] = []
    drift = report.get("drift")
    if alerts.drift and drift:
        out += _drift_observations(spec, window, drift)
    thresholds = alerts.quality.thresholds()
    minimum = alerts.quality.min_labelled or spec.monitoring.min_samples.quality
    windows = report["quality"]["windows"]
    for metric, given in thresholds.items():
        statuses: list[tuple[str, float | None, int]] = []
        reviews = (report.get("overrides") or {}).get("windows")
        for index, entry in enumerate(windows):
            if metric == "override_rate":
                if reviews is not None and len(reviews) == len(windows):
                    count, overridden = reviews[index]["reviewed"], reviews[index]["overridden"]
                else:  # a report without reviews per window: count them
                    start, end = (datetime.fromisoformat(entry[k]) for k in ("start", "end"))
                    counts = store.feedback_counts(spec.app.name, since=start, until=end)
                    count, overridden = counts.reviewed, counts.overridden
                value = overridden / count if count else None
            else:
                count = int(entry.get("labelled") or 0)
                value = (entry.get(metric) or {}).get("value")
            status = "insufficient_data"
            if value is not None and count >= minimum:
                status = _quality_status(metric, value, given.warn, given.alert)
            statuses.append((status, value, count))
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
                start=datetime.fromisoformat(last["start"]),
                end=datetime.fromisoformat(last["end"]),
                count=count,
                streak=_streak([s for s, _, _ in statuses]),
            )
        )
    return out


def _quality_status(metric: str, value: float, warn: float | None, alert: float | None) -> str:
    higher = metric in HIGHER_IS_WORSE

    def worse(limit: float) -> bool:
        return value >= limit if higher else value <= limit

    if alert is not None and worse(alert):
        return "alert"
    if warn is not None and worse(warn):
        return "warn"
    return "ok"


def _streak(statuses: list[str]) -> int:
    count = 0
    for status in reversed(statuses):
        if status != "alert":
            break
        count += 1
    return count


def _drift_observations(spec: Spec, window: str, drift: dict[str, Any]) -> list[Observation]:
    windows = drift["windows"]
    last = windows[-1]
    thresholds = drift["thresholds"]
    names = list(drift["features"])
    if any(w.get("score") for w in windows):
        names.append("score")
    out: list[Observation] = []
    fields = spec.inputs.fields
    for name in names:
        history = [_column(w, name) for w in windows]
        column = history[-1]
        status = column.get("status", "insufficient_data") if column else "insufficient_data"
        checks, statistic, value, threshold = _drift_checks(column or {}, thresholds)
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
                start=datetime.fromisoformat(last["start"]),
                end=datetime.fromisoformat(last["end"]),
                count=int(last.get("rows") or 0),
                streak=_streak([(c or {}).get("status", "") for c in history]),
            )
        )
    attribution = _attribution_observation(window, windows, thresholds)
    if attribution is not None:
        out.append(attribution)
    return out


def _attribution_observation(
    window: str, windows: list[dict[str, Any]], thresholds: dict[str, Any]
) -> Observation | None:
    """``drift.attribution``: how the model's attention (each feature's share of mean
    |contribution|) moved, a subject of its own since a feature's own status judges its values
    only. ``None`` when no window of the report was explained."""
    history = [w.get("attribution") for w in windows]
    if not any(history):
        return None
    last, current = windows[-1], history[-1] or {}
    status = current.get("status", "insufficient_data")
    limits = thresholds.get("attribution_share_change") or {}
    found: list[tuple[float, str, str]] = []
    for feature, share in (current.get("features") or {}).items():
        if share.get("status") in ("warn", "alert") and share.get("share_change") is not None:
            found.append((abs(share["share_change"]), feature, share["status"]))
    found.sort(reverse=True)
    name = statistic_name("attribution_share_change")
    checks = tuple(
        f"{name} of {feature} {value:.4g} >= {limits.get(level, 0):g} ({level})"
        for value, feature, level in found
    )
    value = found[0][0] if found else current.get("shift")
    level = found[0][2] if found else "alert"
    return Observation(
        subject="drift.attribution",
        kind="drift",
        name="attribution",
        label="the model's attention (attribution shares)",
        status=status,
        statistic="attribution_share_change",
        value=value,
        threshold=limits.get(level),
        checks=checks,
        window=window,
        start=datetime.fromisoformat(last["start"]),
        end=datetime.fromisoformat(last["end"]),
        count=int(last.get("rows") or 0),
        streak=_streak([(h or {}).get("status", "") for h in history]),
    )


def _column(entry: dict[str, Any], name: str) -> dict[str, Any] | None:
    if name == "score":
        found = entry.get("score")
    else:
        found = (entry.get("features") or {}).get(name)
    return found if isinstance(found, dict) else None


def _drift_checks(
    column: dict[str, Any], thresholds: dict[str, Any]
) -> tuple[tuple[str, ...], str | None, float | None, float | None]:
    """The thresholds a window's summary crosses, worst first, and the first one's statistic,
    value and threshold (else PSI's value and alert threshold)."""
    found: list[tuple[int, str, float, float, str]] = []
    for statistic in _DRIFT_STATISTICS:
        value, limits = column.get(statistic), thresholds.get(statistic)
        if value is None or not isinstance(limits, dict):
            continue
        for level in ("alert", "warn"):
            if value >= limits[level]:
                found.append((RANK[level], statistic, float(value), float(limits[level]), level))
                break
    found.sort(key=lambda f: -f[0])
    checks = tuple(f"{statistic_name(s)} {v:.4g} >= {t:g} ({lvl})" for _, s, v, t, lvl in found)
    if found:
        _, statistic, value, threshold, _ = found[0]
        return checks, statistic, value, threshold
    psi = column.get("psi")
    limit = (
        thresholds.get("psi", {}).get("alert") if isinstance(thresholds.get("psi"), dict) else None
    )
    return checks, "psi", psi, limit
