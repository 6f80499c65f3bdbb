"""An app's dashboard: what its charts show, computed from the store, plus panels that other
parts of doorstep (or plugins) add when they have data.

A :class:`Panel` is plain data — titled charts of labelled series — so a new panel needs no
template: the page renders every panel the same way, as charts and as tables. A panel source is
a callable ``(app, store) -> Panel | None``; it returns ``None`` when it has nothing to show, and
the dashboard then shows no trace of it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from doorstep.services.apps.loading import LoadedApp
from doorstep.store.protocols import StoreContract
from doorstep.store.views import AppActivity

__all__ = ["Chart", "Dashboard", "Panel", "PanelSource", "Series", "build_dashboard"]

DAYS = 14


@dataclass(frozen=True)
class Series:
    name: str
    values: list[float | None]
    low: list[float | None] | None = None
    high: list[float | None] | None = None
    """An interval around ``values`` (e.g. ROI's), drawn as a band."""


@dataclass(frozen=True)
class Chart:
    """One chart: ``x`` labels (days, features, bands) and series over them."""

    id: str
    title: str
    kind: str
    """``bar`` (x is categorical) or ``line`` (x is a sequence, e.g. days)."""
    x: list[str]
    series: list[Series]
    unit: str = ""
    description: str = ""
    """One sentence saying what the chart shows, read by screen readers too."""


@dataclass(frozen=True)
class Panel:
    title: str
    charts: list[Chart]
    notes: list[str] = field(default_factory=list)


PanelSource = Callable[[LoadedApp, StoreContract], Panel | None]


@dataclass(frozen=True)
class Dashboard:
    app: str
    owner: str
    activity: AppActivity
    override_rate: float | None
    """Overrides over verdicts in the window; ``None`` without verdicts."""
    panels: list[Panel]


def build_dashboard(
    app: LoadedApp,
    store: StoreContract,
    *,
    now: datetime,
    sources: Sequence[PanelSource] = (),
    days: int = DAYS,
) -> Dashboard:
    activity = store.app_activity(app.name, days=days, now=now)
    rate = activity.overridden / activity.reviewed if activity.reviewed else None
    panels = [_activity_panel(app, activity)]
    for source in sources:
        panel = source(app, store)
        if panel is not None and panel.charts:
            panels.append(panel)
    return Dashboard(app.name, app.spec.app.owner, activity, rate, panels)


def _activity_panel(app: LoadedApp, activity: AppActivity) -> Panel:
    days = [d.day for d in activity.days]
    actions = ["none", *app.spec.actions]
    for day in activity.days:
        actions += [a for a in day.decisions if a not in actions]
    per_action = [Series(a, [float(d.decisions.get(a, 0)) for d in activity.days]) for a in actions]
    rates: list[float | None] = []
    for day in activity.days:
        total = sum(day.reviews.values())
        rates.append(100.0 * day.reviews.get("override", 0) / total if total else None)
    verdicts = [
        Series("approve", [float(d.reviews.get("approve", 0)) for d in activity.days]),
        Series("override", [float(d.reviews.get("override", 0)) for d in activity.days]),
    ]
    bands = list(activity.backlog_ages)
    return Panel(
        "Decisions and reviews",
        [
            Chart(
                "decisions-per-day",
                "Decisions per day by action",
                "bar",
                days,
                per_action,
                description="How many decisions were made each day, by action (after review).",
            ),
            Chart(
                "backlog-age",
                "Review backlog by age",
                "bar",
                bands,
                [Series("cases", [float(activity.backlog_ages[b]) for b in bands])],
                description="Cases waiting for a verdict now, by how long they have waited.",
            ),
            Chart(
                "verdicts-per-day",
                "Verdicts per day",
                "bar",
                days,
                verdicts,
                description="Approvals and overrides given each day.",
            ),
            Chart(
                "override-rate",
                "Override rate",
                "line",
                days,
                [Series("override rate", rates)],
                unit="%",
                description="Share of the day's verdicts that overrode the model's action.",
            ),
        ],
    )
