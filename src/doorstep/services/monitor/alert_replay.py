"""Alerts replayed over a past range: what the monitor would have raised, escalated, resolved
and requested, window by window, recorded nowhere.

``doorstep monitor --alert`` with ``--since``, ``--until``, ``--window`` or ``--periods`` asks
for a range, not for *now*; the alert states in the store (``alert_states``) describe now, so a
judgement of last month must not raise, resolve or send anything. :func:`replay_alerts` is the
**dry** evaluation: one monitoring report over the range (resolved exactly as ``doorstep
monitor`` resolves it), then each window judged in turn as a live run at that window's end would
have judged it (the same :func:`~doorstep.services.monitor.alert_observations.observe` and
:func:`~doorstep.services.monitor.alerts.plan_transitions`), with the alert states carried from
window to window in memory, starting with no breach open. Nothing is written: no state, no
outbox row, no audit event, no retraining command.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from doorstep.core.spec.alerts import AlertsSpec
from doorstep.core.spec.models import Spec
from doorstep.core.stats.drift import ReferenceProfile
from doorstep.core.stats.drift_report import Status, worst_status
from doorstep.services.monitor.alert_messages import Observation
from doorstep.services.monitor.alert_observations import observe
from doorstep.services.monitor.alerts import (
    EXIT_ALERT,
    EXIT_WARN,
    MonitorStore,
    open_alerts,
    plan_transitions,
)
from doorstep.services.monitor.drift import drift_thresholds
from doorstep.services.monitor.report import monitoring_report
from doorstep.store.alerts import AlertState, AlertTransition
from doorstep.store.canonical import iso
from doorstep.types.monitoring import MonitoringReport

__all__ = ["AlertReplay", "ReplayedWindow", "replay_alerts"]


@dataclass(frozen=True)
class ReplayedWindow:
    """One window of the range as a live run at its end would have judged it."""

    start: datetime
    end: datetime
    observations: list[Observation]
    transitions: list[AlertTransition]
    """What would have been raised, escalated, resolved (and retraining requested)."""

    @property
    def status(self) -> Status:
        return worst_status(obs.status for obs in self.observations)

    def as_dict(self) -> dict[str, Any]:
        return {
            "start": iso(self.start),
            "end": iso(self.end),
            "status": self.status,
            "subjects": [
                {"subject": o.subject, "status": o.status, "checks": list(o.checks)}
                for o in self.observations
                if o.status != "ok"
            ],
            "would": [
                {"event": t.event, "subject": t.subject, "deliveries": len(t.messages)}
                for t in self.transitions
            ],
        }


@dataclass(frozen=True)
class AlertReplay:
    """A dry alert run over a range: each window judged, nothing recorded or sent."""

    app: str
    window: str
    since: datetime
    until: datetime
    windows: list[ReplayedWindow]
    """The range's complete windows (and the current one with ``include_current``)."""
    open_alerts: dict[str, str]
    """Subject → status of the breaches that would be open after the last window."""
    report: MonitoringReport | None = None

    @property
    def status(self) -> Status:
        """The worst status of any window judged (``insufficient_data`` when none was)."""
        return worst_status(w.status for w in self.windows)

    @property
    def exit_code(self) -> int:
        """As a live run's, from the worst window of the range."""
        return {"warn": EXIT_WARN, "alert": EXIT_ALERT}.get(self.status, 0)

    def as_dict(self) -> dict[str, Any]:
        return {
            "app": self.app,
            "window": self.window,
            "since": iso(self.since),
            "until": iso(self.until),
            "dry_run": True,
            "status": self.status,
            "windows": [w.as_dict() for w in self.windows],
            "open_alerts": self.open_alerts,
        }


def replay_alerts(
    spec: Spec,
    store: MonitorStore,
    *,
    window: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    periods: int | None = None,
    profile: ReferenceProfile | None = None,
    now: datetime | None = None,
    public_url: str | None = None,
) -> AlertReplay:
    """Judge every window of the range against ``monitoring.alerts`` as the monitor would have
    at each window's end; see the module docstring. Reads the store, writes nothing."""
    now = now or datetime.now(UTC)
    alerts = spec.monitoring.alerts or AlertsSpec(connectors=["-"])
    report = monitoring_report(
        spec,
        store,
        window=window,
        since=since,
        until=until,
        periods=periods,
        now=now,
        profile=profile if alerts.drift else None,
        reference_labels=profile.labels if profile is not None else None,
        thresholds=drift_thresholds(spec),
    )
    app = spec.app.name
    states: dict[str, AlertState] = {}
    judged: list[ReplayedWindow] = []
    for index, entry in enumerate(report.quality.windows):
        if entry.end > now and not alerts.include_current:
            break  # still filling: a live run judges it once it is complete
        observations = observe(spec, alerts, _up_to(report, index))
        planned = plan_transitions(
            app, alerts, observations, states, now=entry.end, public_url=public_url
        )
        for change in planned:
            states[change.subject] = _after(states.get(change.subject), change, entry.end)
        judged.append(ReplayedWindow(entry.start, entry.end, observations, planned))
    return AlertReplay(
        app,
        report.window,
        report.since,
        report.until,
        judged,
        {s.subject: s.status for s in open_alerts(states)},
        report=report,
    )


def _up_to(report: MonitoringReport, index: int) -> MonitoringReport:
    """The report as it would have read with window ``index`` its last one."""
    end = index + 1
    quality = replace(report.quality, windows=report.quality.windows[:end])
    overrides = replace(report.overrides, windows=report.overrides.windows[:end])
    drift = report.drift
    if drift is not None:
        drift = replace(drift, windows=drift.windows[:end])
    return replace(report, quality=quality, overrides=overrides, drift=drift)


def _after(state: AlertState | None, change: AlertTransition, at: datetime) -> AlertState:
    """A subject's state once ``change`` is applied, as the store would keep it."""
    values = change.values

    def kept(key: str) -> Any:
        if key in values:
            return values[key]
        return getattr(state, key) if state is not None else None

    return AlertState(
        app=change.app,
        subject=change.subject,
        kind=change.kind,
        status=values["status"],
        breach_id=kept("breach_id"),
        version=(state.version + 1) if state is not None else 1,
        opened_at=kept("opened_at"),
        updated_at=at,
        window_start=kept("window_start"),
        value=kept("value"),
        threshold=kept("threshold"),
        retrain_at=kept("retrain_at"),
        detail=kept("detail"),
    )
