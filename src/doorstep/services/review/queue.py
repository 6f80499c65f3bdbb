"""The review queue as reviewers work it: filters, claims and the SLA of each case.

A claim keeps a case to one reviewer for :data:`CLAIM_SECONDS` (opening the case again renews
it); the verdict or a release ends it, and an expired claim is ignored. Verdicts themselves are
:func:`doorstep.services.review.verdicts.review_decision`, which refuses a case another key claimed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from doorstep.services.apps.registry import Registry
from doorstep.store.protocols import DecisionQuery, DecisionStore, ReviewStore
from doorstep.store.views import QueueEntry, QueuePage, QueueQuery, ReviewClaim

__all__ = [
    "AGE_FILTERS",
    "CLAIM_SECONDS",
    "QueueFilters",
    "claim_case",
    "queue_page",
    "release_case",
    "sla_state",
    "review_backlog",
]

CLAIM_SECONDS = 15 * 60
"""How long a claim lasts without the reviewer coming back to the case."""

AGE_FILTERS: dict[str, tuple[float | None, float | None]] = {
    "": (None, None),
    "lt1h": (None, 1),
    "1-4h": (1, 4),
    "4-24h": (4, 24),
    "gt24h": (24, None),
}
"""The queue's age filter: name → (at least, less than) hours old."""


@dataclass(frozen=True)
class QueueFilters:
    """What a reviewer picked on the queue page (all optional)."""

    app: str | None = None
    action: str | None = None
    age: str = ""
    score_min: float | None = None
    score_max: float | None = None
    order: str = "oldest"
    page: int = 1
    per_page: int = 50

    def query(self, registry: Registry, now: datetime) -> QueueQuery:
        apps = (registry.get(self.app).name,) if self.app else tuple(registry.apps)
        low, high = AGE_FILTERS.get(self.age, (None, None))
        return QueueQuery(
            apps=apps,
            action=self.action or None,
            older_than=None if low is None else now - timedelta(hours=low),
            newer_than=None if high is None else now - timedelta(hours=high),
            score_min=self.score_min,
            score_max=self.score_max,
            order="score" if self.order == "score" else "oldest",
            offset=(max(1, self.page) - 1) * self.per_page,
            limit=self.per_page,
        )


def queue_page(
    registry: Registry, store: ReviewStore, filters: QueueFilters, *, now: datetime
) -> QueuePage:
    return store.review_queue(filters.query(registry, now), now=now)


def sla_state(registry: Registry, entry: QueueEntry, now: datetime) -> tuple[str, float | None]:
    """``(state, hours left)``: ``overdue``, ``due`` (under a quarter of the SLA left), ``ok``,
    or ``none`` when the app's spec sets no ``policy.review_sla_hours``."""
    app = registry.apps.get(entry.app)
    sla = app.spec.policy.review_sla_hours if app is not None else None
    if sla is None:
        return "none", None
    left = sla - (now - entry.created_at).total_seconds() / 3600
    if left <= 0:
        return "overdue", left
    return ("due" if left < sla / 4 else "ok"), left


def claim_case(
    store: ReviewStore, decision_id: str, *, key_id: str, actor: str, now: datetime
) -> ReviewClaim:
    """Claim (or renew the claim on) a pending case; see :meth:`StoreContract.claim_review`."""
    return store.claim_review(decision_id, key_id, actor, seconds=CLAIM_SECONDS, now=now)


def release_case(store: ReviewStore, decision_id: str, *, key_id: str, now: datetime) -> bool:
    return store.release_review(decision_id, key_id, now=now)


def review_backlog(store: DecisionStore, app: str, *, cap: int) -> int:
    """How many of ``app``'s decisions wait for a verdict, counted up to ``cap`` (pages of
    1,000 read newest first; the count stops at ``cap``)."""
    count, cursor = 0, None
    while count < cap:
        page = store.list_decisions(
            DecisionQuery(app=app, status="pending_review", cursor=cursor, limit=1_000)
        )
        count += len(page.items)
        cursor = page.next_cursor
        if cursor is None:
            break
    return min(count, cap)
