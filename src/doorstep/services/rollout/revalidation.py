"""When the champion must be revalidated (``governance.revalidate_every``), and the
``governance.revalidation`` observation each monitor run judges: ``alert`` once the champion
has served longer than that, ``ok`` otherwise (a new champion promoted starts the clock
again, and the alert resolves)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from doorstep.core.spec.models import Spec
from doorstep.services.monitor.alert_messages import Observation
from doorstep.store.protocols import ModelVersionStore

__all__ = ["SUBJECT", "Revalidation", "revalidation_due", "revalidation_observation"]

SUBJECT = "governance.revalidation"


@dataclass(frozen=True)
class Revalidation:
    version: str
    every: str
    since: datetime
    """When the version last became the champion."""
    due: datetime

    def overdue(self, now: datetime) -> bool:
        return now >= self.due


def revalidation_due(
    spec: Spec, rows: list[dict[str, Any]], history: list[dict[str, Any]]
) -> Revalidation | None:
    """The champion's revalidation date, from the app's versions and stage history; ``None``
    without ``governance.revalidate_every`` or a champion."""
    every = spec.governance.revalidation
    champion = next((r for r in rows if r["stage"] == "champion"), None)
    if every is None or champion is None or spec.governance.revalidate_every is None:
        return None
    version = champion["version"]
    since = max(
        (c["at"] for c in history if c["to_stage"] == "champion" and c["version"] == version),
        default=champion["registered_at"],
    )
    return Revalidation(str(version), spec.governance.revalidate_every, since, since + every)


def revalidation_observation(
    spec: Spec, store: ModelVersionStore, *, now: datetime
) -> Observation | None:
    """The observation of ``governance.revalidation`` (``None`` when nothing is due ever)."""
    app = spec.app.name
    found = revalidation_due(spec, store.model_versions(app), store.model_stage_history(app))
    if found is None:
        return None
    late = found.overdue(now)
    days = (now - found.since).total_seconds() / 86_400
    check = (
        f"champion {found.version} has served {days:.0f} days since "
        f"{found.since:%Y-%m-%d}; revalidation every {found.every}, due {found.due:%Y-%m-%d}"
    )
    return Observation(
        subject=SUBJECT, kind="governance", name="revalidation",
        label=f"revalidation of champion {found.version}",
        status="alert" if late else "ok", statistic="days_served", value=days,
        threshold=(found.due - found.since).total_seconds() / 86_400,
        checks=(check + (": overdue" if late else ""),), window=spec.monitoring.window,
        start=found.since, end=now, count=0, streak=1 if late else 0,
    )  # fmt: skip
