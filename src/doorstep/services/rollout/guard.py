"""The canary guard: each monitor run compares a running canary with the champion on the
decisions since the canary started (:func:`~doorstep.services.rollout.compare.compare_versions`)
and, when ``monitoring.alerts.canary`` says it does worse, stops it and raises the
``canary.quality`` alert.

The rule: the canary's headline metric (AUC, accuracy or MAE) minus the champion's is on the
worse side with its interval excluding zero, and the estimate is worse by at least ``margin``,
once each version has ``min_labelled`` decisions with an outcome. With no canary running, the
subject is ``ok`` (an alert open on a stopped canary resolves)."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, Protocol

from doorstep.core.spec.alerts import CanaryGuardSpec
from doorstep.core.spec.models import Spec
from doorstep.core.stats.drift_report import Status
from doorstep.errors import ConflictError, NotFoundError
from doorstep.services.monitor.alert_messages import Observation
from doorstep.services.monitor.report import WINDOW_SECONDS
from doorstep.services.rollout.compare import CompareStore, compare_versions
from doorstep.services.rollout.stages import Caller, champion_of, stop_canary
from doorstep.store.protocols import ModelVersionStore

__all__ = ["SUBJECT", "CanaryJudgement", "GuardStore", "judge_canary", "stop_worse_canary"]

SUBJECT = "canary.quality"
ACTOR = "doorstep monitor"
_NAMES = {"auc": "AUC", "accuracy": "accuracy", "mae": "MAE"}


class GuardStore(CompareStore, ModelVersionStore, Protocol):
    """What the guard reads (stages, decisions, outcomes) and changes (the canary's stage)."""


@dataclass(frozen=True)
class CanaryJudgement:
    observation: Observation
    canary: str | None
    """The canary judged (``None``: none is running)."""
    reason: str
    """Why it would be stopped, with the numbers (empty unless the rule fired)."""


def judge_canary(
    spec: Spec, store: GuardStore, guard: CanaryGuardSpec, *, now: datetime
) -> CanaryJudgement:
    """The ``canary.quality`` observation of the app's running canary (pure reading)."""
    app = spec.app.name
    rows, _ = store.model_stages(app)
    canary = next((r for r in rows if r["stage"] == "canary"), None)
    champion = champion_of(rows)
    window = spec.monitoring.window if spec.monitoring.window in WINDOW_SECONDS else "day"
    if canary is None or champion is None:
        return CanaryJudgement(_observation("ok", window, now, now, "no canary running"), None, "")
    version, first = str(canary["version"]), str(champion["version"])
    since = _started(store.model_stage_history(app), version) or now
    label = f"quality of canary {version} against champion {first}"
    minimum = guard.min_labelled or spec.monitoring.min_samples.quality
    try:
        found = compare_versions(
            spec, store, champion=first, challenger=version, window=window, since=since,
            until=now, now=now, mode="canary",
        )  # fmt: skip
    except NotFoundError:
        obs = _observation("insufficient_data", window, since, now, "no decision yet", label)
        return CanaryJudgement(obs, version, "")
    side = found.challenger
    labelled_canary = side.labelled if side is not None else 0
    labelled = min(found.champion.labelled, labelled_canary)
    difference = found.difference
    value = difference.difference.value if difference is not None else None
    ends = difference.difference if difference is not None else None
    if ends is None or ends.low is None or ends.high is None or labelled < minimum:
        text = f"{labelled} of the {minimum} decisions with an outcome each version needs"
        obs = _observation("insufficient_data", window, since, now, text, label, labelled)
        return CanaryJudgement(obs, version, "")
    assert difference is not None and value is not None  # ends were measured
    interval = difference.difference
    worse = -value if difference.higher_is_better else value
    name = _NAMES.get(difference.metric, difference.metric)
    fired = interval.excludes(0.0) and worse > 0 and worse >= guard.margin
    check = (
        f"{name} of canary {version} minus champion {first}: {value:+.4g} "
        f"[{interval.low:.4g}, {interval.high:.4g}] ({difference.method}; decisions with an "
        f"outcome: champion {found.champion.labelled}, canary {labelled_canary}); stop when "
        f"worse by at least {guard.margin:g} with the interval excluding zero"
    )
    status: Status = "alert" if fired else "ok"
    obs = _observation(status, window, since, now, check, label, labelled)
    obs = replace(obs, statistic=difference.metric, value=value, threshold=guard.margin)
    reason = f"stopped by the monitor: {check}" if fired else ""
    return CanaryJudgement(obs, version, reason)


def stop_worse_canary(
    spec: Spec, store: GuardStore, guard: CanaryGuardSpec, *, now: datetime
) -> CanaryJudgement:
    """Judge the canary and, when the rule fires and ``guard.stop``, stop it (audited as a stage
    change by ``doorstep monitor`` with the numbers as its reason)."""
    judged = judge_canary(spec, store, guard, now=now)
    if judged.observation.status != "alert" or not guard.stop:
        return judged
    try:
        stopped = stop_canary(store, spec.app.name, caller=Caller(ACTOR), reason=judged.reason)
    except ConflictError as error:  # stopped or changed meanwhile: the alert still says why
        note = f"not stopped: {error}"
    else:
        note = f"canary {stopped} stopped"
    obs = judged.observation
    return replace(judged, observation=replace(obs, checks=(*obs.checks, note)))


def _started(history: list[dict[str, Any]], version: str) -> datetime | None:
    """When ``version``'s current run as canary began (a change of share does not restart it)."""
    started: datetime | None = None
    for change in history:
        if change["version"] != version:
            continue
        if change["to_stage"] != "canary":
            started = None
        elif started is None:
            started = change["at"]
    return started


def _observation(
    status: Status,
    window: str,
    start: datetime,
    end: datetime,
    check: str,
    label: str = "quality of the canary",
    count: int = 0,
) -> Observation:
    return Observation(
        subject=SUBJECT, kind="canary", name="canary", label=label, status=status,
        statistic=None, value=None, threshold=None, checks=(check,), window=window,
        start=start, end=end, count=count, streak=1 if status == "alert" else 0,
    )  # fmt: skip
