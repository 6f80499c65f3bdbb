"""What the pages read from the store: the review queue, claims, an app's activity and one
decision's whole case. Plain data, like the rest of ``protocols.py`` (no SQL here)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from doorstep.types import AuditEvent, Decision, Delivery, Review

__all__ = [
    "ActivityDay",
    "AppActivity",
    "AppEvent",
    "AppEvents",
    "DecisionCase",
    "QueueEntry",
    "QueuePage",
    "QueueQuery",
    "ReviewClaim",
]

QueueOrder = Literal["oldest", "score"]


@dataclass(frozen=True)
class QueueQuery:
    """Filters of the review queue (decisions ``pending_review``); ``None``: any."""

    apps: tuple[str, ...]
    action: str | None = None
    older_than: datetime | None = None
    """Only decisions created before this moment (the queue's age filter)."""
    newer_than: datetime | None = None
    score_min: float | None = None
    score_max: float | None = None
    """Score band: ``score_min <= score < score_max``."""
    order: QueueOrder = "oldest"
    """``oldest`` first, or highest ``score`` first."""
    offset: int = 0
    limit: int = 50
    entity_id: str | None = None
    """Only cases whose entity id starts with this text."""
    claimed_by: str | None = None
    """Only cases this API key (its id) holds a live claim on."""
    unclaimed: bool = False
    """Only cases nobody holds a live claim on."""
    overdue: tuple[tuple[str, datetime], ...] | None = None
    """Only cases past their SLA: ``(app, created before)`` pairs; apps not listed are left
    out (an empty tuple matches nothing)."""


@dataclass(frozen=True)
class ReviewClaim:
    """A reviewer works this case until ``expires_at`` (or their verdict, or a release)."""

    decision_id: str
    key_id: str
    actor: str
    claimed_at: datetime
    expires_at: datetime


@dataclass(frozen=True)
class QueueEntry:
    """One case of the queue: what a row of the queue shows."""

    id: str
    app: str
    entity_id: str
    score: float
    action: str
    rule: str | None
    created_at: datetime
    claim: ReviewClaim | None = None
    """The live claim on it, if any (expired claims are not shown)."""
    inputs: dict[str, Any] = field(default_factory=dict)
    reasons: list[dict[str, Any]] = field(default_factory=list)


@dataclass(frozen=True)
class QueuePage:
    items: list[QueueEntry]
    total: int
    """Cases matching the filters, over every page."""


@dataclass(frozen=True)
class ActivityDay:
    day: str
    """``YYYY-MM-DD`` (UTC)."""
    decisions: dict[str, int]
    """Decisions made that day by action (after review: the final action)."""
    reviews: dict[str, int] = field(default_factory=dict)
    """Verdicts given that day: ``approve`` and ``override`` counts."""


@dataclass(frozen=True)
class AppActivity:
    """An app's recent activity, for its dashboard."""

    app: str
    days: list[ActivityDay]
    """One entry per day of the window, oldest first, days without decisions included."""
    backlog: int
    """Decisions pending review now."""
    oldest_pending: datetime | None
    backlog_ages: dict[str, int]
    """Pending decisions by age band (``< 1 h``, ``1–4 h``, ``4–24 h``, ``1–3 d``, ``> 3 d``)."""
    reviewed: int
    overridden: int
    """Verdicts over the window, and how many of them were overrides."""


@dataclass(frozen=True)
class DecisionCase:
    """One decision with everything its page shows, read in one transaction: its deliveries
    with every attempt, the model version that decided it, its audit events, its review and,
    while it waits for one, the live claim on it."""

    decision: Decision
    deliveries: list[Delivery]
    """Newest first, each with its attempts (``history``)."""
    model_version: dict[str, Any] | None
    """The registered version that decided (``version``, ``content_hash``, ``owner``,
    ``registered_at``), or ``None`` when it is not registered."""
    audit: list[AuditEvent]
    review: Review | None
    claim: ReviewClaim | None


@dataclass(frozen=True)
class AppEvent:
    """One audit event of an app's activity feed, with the decision it is about (when it is
    about one: a verdict, a delivery's change) for the page to name the entity."""

    event: AuditEvent
    entity_id: str | None = None
    decision_id: str | None = None


@dataclass(frozen=True)
class AppEvents:
    """A page of an app's activity feed, newest first; ``before``: the sequence number to ask
    the next page with (``None`` at the end, or when the events scanned ran out)."""

    items: list[AppEvent]
    before: int | None
