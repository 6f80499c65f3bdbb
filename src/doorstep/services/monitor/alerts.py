"""Alerts: judge the latest window of an app's monitoring report against the spec's thresholds,
raise each breach once through the alert connectors, resolve it once when it clears, and fire
the retraining hook when drift or quality loss is sustained.

One run (:func:`run_monitor`, from ``doorstep monitor --alert`` or the schedule in ``serve``):

1. the report over the last ``max(1, retrain.after)`` windows (the latest complete one judged,
   or the current one with ``include_current``);
2. an :class:`Observation` per subject: each drift feature and the score (statuses from
   ``monitoring.drift``), each quality metric with a threshold;
3. transitions against the stored state (``doorstep.store.alerts``): ``alert.raised`` when a
   subject reaches ``alerts.level`` with no breach open, ``alert.escalated`` when a ``warn``
   breach reaches ``alert``, ``alert.resolved`` when it falls below ``alerts.level``; a window
   with too few rows (``insufficient_data``) changes nothing;
4. the transitions, their outbox messages (one per connector, keyed
   ``alert:<breach>:<transition>:<connector>``) and their audit events are written in one
   transaction with the run's ``monitor.run`` event, each only if the subject's state is still
   the one it was computed from; the dispatcher then sends them.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from doorstep.core.spec.alerts import AlertsSpec, RetrainSpec
from doorstep.core.spec.models import Spec
from doorstep.core.stats.drift import ReferenceProfile
from doorstep.core.stats.drift_report import RANK as _RANK
from doorstep.core.stats.drift_report import Status, worst_status
from doorstep.ids import new_id
from doorstep.services.monitor.alert_messages import Observation, alert_message, retrain_message
from doorstep.services.monitor.alert_observations import observe
from doorstep.services.monitor.blas import with_one_blas_thread
from doorstep.services.monitor.drift import drift_thresholds
from doorstep.services.monitor.fairness_alerts import fairness_observations
from doorstep.services.monitor.ranges import alert_range
from doorstep.services.monitor.report import monitoring_report
from doorstep.services.rollout.guard import GuardStore, judge_canary, stop_worse_canary
from doorstep.services.rollout.revalidation import revalidation_observation
from doorstep.store.alerts import AlertMessage, AlertState, AlertTransition
from doorstep.store.canonical import iso
from doorstep.store.protocols import AlertStore, OutcomeStore
from doorstep.types.monitoring import MonitoringReport

__all__ = [
    "EXIT_ALERT",
    "EXIT_WARN",
    "MonitorResult",
    "MonitorStore",
    "RetrainRun",
    "app_alerts",
    "observe",
    "open_alerts",
    "plan_transitions",
    "run_monitor",
]


class MonitorStore(OutcomeStore, AlertStore, GuardStore, Protocol):
    """What a monitor run reads (decisions, outcomes, model stages) and writes (alert
    transitions, their messages and the run's event; a canary's stop)."""


logger = logging.getLogger("doorstep.alerts")

EXIT_WARN = 3
"""``doorstep monitor --alert`` exit code when the worst subject is at ``warn``."""
EXIT_ALERT = 4
"""... and when one is at ``alert``."""
RETRAIN_SUBJECT = "retrain"


@dataclass(frozen=True)
class RetrainRun:
    """What the retraining command did."""

    argv: list[str]
    returncode: int | None
    """``None`` when it could not start or ran out of time."""
    detail: str


@dataclass(frozen=True)
class MonitorResult:
    app: str
    window: str
    start: datetime
    end: datetime
    observations: list[Observation]
    transitions: list[AlertTransition]
    """The transitions this run applied (another run may have applied the same first)."""
    open_alerts: dict[str, str]
    """Subject → status of every open breach after the run."""
    retrain: RetrainRun | None = None
    report: MonitoringReport | None = None
    """The report the run judged."""

    @property
    def status(self) -> Status:
        """The worst status judged (:func:`worst_status`): ``ok``, ``warn`` or ``alert``, or
        ``insufficient_data`` when no subject had enough data to be judged."""
        return worst_status(obs.status for obs in self.observations)

    @property
    def exit_code(self) -> int:
        """``EXIT_WARN`` or ``EXIT_ALERT`` when a subject is there, else 0 (nothing to act on,
        whether every subject is ok or none could be judged: the status says which)."""
        return {"warn": EXIT_WARN, "alert": EXIT_ALERT}.get(self.status, 0)

    def as_dict(self) -> dict[str, Any]:
        return {
            "app": self.app,
            "window": self.window,
            "start": iso(self.start),
            "end": iso(self.end),
            "status": self.status,
            "observations": [o.as_dict() for o in self.observations],
            "transitions": [
                {"event": t.event, "subject": t.subject, "deliveries": len(t.messages)}
                for t in self.transitions
            ],
            "open_alerts": self.open_alerts,
            "retrain": None
            if self.retrain is None
            else {"argv": self.retrain.argv, "returncode": self.retrain.returncode},
        }


def _spec_alerts(spec: Spec) -> AlertsSpec:
    alerts = spec.monitoring.alerts
    if alerts is None:
        return AlertsSpec(connectors=["-"], drift=True)  # judged, sent nowhere (see run_monitor)
    return alerts


@with_one_blas_thread
def run_monitor(
    spec: Spec,
    store: MonitorStore,
    *,
    profile: ReferenceProfile | None = None,
    now: datetime | None = None,
    actor: str = "monitor",
    public_url: str | None = None,
    root: Path | None = None,
    alert: bool = True,
) -> MonitorResult:
    """Judge the app's latest window and (with ``alert``) apply the transitions; see the
    module docstring. ``root`` is the spec's folder, where a retraining command runs."""
    now = now or datetime.now(UTC)
    alerts = _spec_alerts(spec)
    window = spec.monitoring.window
    periods = alerts.retrain.after if alerts.retrain is not None else 1
    span, start, end = alert_range(
        spec, store, now=now, include_current=alerts.include_current, periods=periods
    )
    since = span.since
    report = monitoring_report(
        spec,
        store,
        window=window,
        since=since,
        until=end,
        now=now,
        profile=profile if alerts.drift else None,
        reference_labels=profile.labels if profile is not None else None,
        thresholds=drift_thresholds(spec),
    )
    observations = observe(spec, alerts, report)
    observations += fairness_observations(spec, store, window=window, start=start, end=end)
    acting = alert and spec.monitoring.alerts is not None
    if alerts.canary is not None:
        guard = stop_worse_canary if acting else judge_canary
        observations.append(guard(spec, store, alerts.canary, now=now).observation)
    overdue = revalidation_observation(spec, store, now=now)
    if overdue is not None:
        observations.append(overdue)
    app = spec.app.name
    if not acting:
        states = store.alert_states(app)
        return MonitorResult(
            app, window, start, end, observations, [], _open(states), report=report
        )
    states = store.alert_states(app)
    planned = plan_transitions(
        app, alerts, observations, states, now=now, public_url=public_url, owner=spec.app.owner
    )
    run_payload = {
        "window": window,
        "start": iso(start),
        "end": iso(end),
        "status": worst_status(o.status for o in observations),
        "counts": _counts(observations),
        "alerting": [o.subject for o in observations if o.status in ("warn", "alert")],
    }
    applied = store.apply_alert_transitions(
        planned, ("monitor.run", app, run_payload), actor=actor, now=now
    )
    retrain = None
    hook = alerts.retrain
    fired = [t for t in applied if t.event == "retrain.requested"]
    if hook is not None and hook.command is not None and fired:
        retrain = _run_command(hook, fired[0], root or Path.cwd())
        store.apply_alert_transitions(
            [],
            (
                "retrain.command",
                app,
                {
                    "retrain_id": fired[0].values["breach_id"],
                    "argv": retrain.argv,
                    "returncode": retrain.returncode,
                    "detail": retrain.detail,
                },
            ),
            actor=actor,
        )
    for change in applied:
        logger.info("%s %s:%s", change.event, app, change.subject)
    return MonitorResult(
        app,
        window,
        start,
        end,
        observations,
        applied,
        _open(store.alert_states(app)),
        retrain=retrain,
        report=report,
    )


def app_alerts(store: AlertStore, app: str) -> list[AlertState]:
    """The app's open alerts, read fresh from the store (see :func:`open_alerts`)."""
    return open_alerts(store.alert_states(app))


def open_alerts(states: dict[str, AlertState]) -> list[AlertState]:
    """The subjects with an open breach (warn or alert), by subject; the retraining hook's own
    bookkeeping is not one."""
    return [s for s in states.values() if s.breach_id is not None and s.subject != RETRAIN_SUBJECT]


def _open(states: dict[str, AlertState]) -> dict[str, str]:
    return {s.subject: s.status for s in open_alerts(states)}


def _counts(observations: list[Observation]) -> dict[str, int]:
    out: dict[str, int] = {}
    for obs in observations:
        out[obs.status] = out.get(obs.status, 0) + 1
    return out


# planning


def plan_transitions(
    app: str,
    alerts: AlertsSpec,
    observations: list[Observation],
    states: dict[str, AlertState],
    *,
    now: datetime,
    public_url: str | None = None,
    owner: str | None = None,
) -> list[AlertTransition]:
    """The transitions the observations call for, from ``states`` as read (pure); ``owner``
    (the app's ``app.owner``) is named in each message."""
    notify = _RANK[alerts.level]
    out: list[AlertTransition] = []
    still_open: dict[str, Observation] = {}
    for obs in observations:
        state = states.get(obs.subject)
        current = state.status if state is not None and state.breach_id is not None else "ok"
        if obs.status not in _RANK:  # too few rows: nothing is concluded either way
            if current != "ok":
                still_open[obs.subject] = obs
            continue
        rank = _RANK[obs.status]
        version = state.version if state is not None else None
        observed = {
            "window_start": obs.start,
            "value": obs.value,
            "threshold": obs.threshold,
            "detail": obs.as_dict(),
        }
        if current == "ok" and rank >= notify:
            breach = new_id()
            values = {
                **observed,
                "status": obs.status,
                "breach_id": breach,
                "opened_at": now,
            }
            out.append(
                _transition(
                    app,
                    obs,
                    version,
                    values,
                    "alert.raised",
                    breach,
                    alerts,
                    now,
                    public_url,
                    owner=owner,
                )  # fmt: skip
            )
            still_open[obs.subject] = obs
        elif current != "ok" and state is not None and state.breach_id is not None:
            breach = state.breach_id
            if rank < notify:
                values = {**observed, "status": "ok", "breach_id": None, "opened_at": None}
                out.append(
                    _transition(
                        app, obs, version, values, "alert.resolved", breach, alerts, now,
                        public_url, opened_at=state.opened_at, owner=owner,
                    )
                )  # fmt: skip
            else:
                still_open[obs.subject] = obs
                if rank > _RANK[current]:
                    values = {**observed, "status": obs.status}
                    out.append(
                        _transition(
                            app, obs, version, values, "alert.escalated", breach, alerts, now,
                            public_url, opened_at=state.opened_at, owner=owner,
                        )
                    )  # fmt: skip
    if alerts.retrain is not None:
        out += _retrain(app, alerts.retrain, still_open, states, now, public_url, owner)
    return out


def _transition(
    app: str,
    obs: Observation,
    version: int | None,
    values: dict[str, Any],
    event: str,
    breach: str,
    alerts: AlertsSpec,
    now: datetime,
    public_url: str | None,
    *,
    opened_at: datetime | None = None,
    owner: str | None = None,
) -> AlertTransition:
    level = obs.status if event != "alert.resolved" else "ok"
    message = alert_message(
        event,
        app,
        obs,
        breach_id=breach,
        level=level,
        opened_at=opened_at if event != "alert.raised" else now,
        now=now,
        public_url=public_url,
        owner=owner,
    )
    step = event.split(".", 1)[1]
    messages = [
        AlertMessage(
            id=new_id(),
            key=f"alert:{breach}:{step}:{connector}",
            action=event,
            connector=connector,
            message=message,
        )
        for connector in dict.fromkeys(alerts.connectors)
    ]
    payload = {"breach_id": breach, **obs.as_dict(), "text": message["text"]}
    return AlertTransition(app, obs.subject, obs.kind, version, values, event, payload, messages)


def _retrain(
    app: str,
    hook: RetrainSpec,
    still_open: dict[str, Observation],
    states: dict[str, AlertState],
    now: datetime,
    public_url: str | None,
    owner: str | None = None,
) -> list[AlertTransition]:
    """One ``retrain.requested`` while any watched subject has been in alert for ``after``
    windows; re-armed (``retrain.rearmed``) once no watched breach is open."""
    state = states.get(RETRAIN_SUBJECT)
    fired = state is not None and state.breach_id is not None
    version = state.version if state is not None else None
    watched = {s: o for s, o in still_open.items() if o.kind in hook.on}
    sustained = [o for o in watched.values() if o.streak >= hook.after]
    if not fired and sustained:
        retrain_id = new_id()
        message = retrain_message(
            app, sustained, retrain_id=retrain_id, after=hook.after, now=now,
            public_url=public_url, owner=owner,
        )  # fmt: skip
        messages = []
        if hook.webhook is not None:
            messages.append(
                AlertMessage(
                    id=new_id(),
                    key=f"retrain:{retrain_id}:{hook.webhook}",
                    action="retrain.requested",
                    connector=hook.webhook,
                    message=message,
                )
            )
        values = {"status": "alert", "breach_id": retrain_id, "opened_at": now, "retrain_at": now}
        values["detail"] = message["payload"]
        payload: dict[str, Any] = {
            "retrain_id": retrain_id,
            "subjects": [o.subject for o in sustained],
        }
        return [
            AlertTransition(
                app, RETRAIN_SUBJECT, "retrain", version, values, "retrain.requested", payload,
                messages,
            )
        ]  # fmt: skip
    if fired and not watched:
        values = {"status": "ok", "breach_id": None, "opened_at": None, "retrain_at": None}
        payload = {"retrain_id": state.breach_id if state is not None else None}
        return [
            AlertTransition(
                app, RETRAIN_SUBJECT, "retrain", version, values, "retrain.rearmed", payload
            )
        ]
    return []


def _run_command(hook: RetrainSpec, fired: AlertTransition, root: Path) -> RetrainRun:
    """Run the retraining command once (it fired in a committed transaction: never twice)."""
    argv = list(hook.command or [])
    event = json.dumps(fired.values.get("detail") or {}, default=str)
    env = {**os.environ, "DOORSTEP_RETRAIN_EVENT": event}
    try:
        done = subprocess.run(  # noqa: S603 - an argv from the spec, no shell
            argv,
            cwd=root,
            env=env,
            capture_output=True,
            text=True,
            timeout=hook.timeout,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return RetrainRun(argv, None, f"stopped after {hook.timeout:g} s")
    except OSError as error:
        return RetrainRun(argv, None, f"could not start: {error}")
    tail = (done.stderr or done.stdout or "").strip()[-500:]
    return RetrainRun(argv, done.returncode, tail)
