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
    "CLAIM_FILTERS",
    "QueueFilters",
    "claim_case",
    "queue_page",
    "release_case",
    "skip_case",
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

CLAIM_FILTERS = ("", "mine", "unclaimed")
"""The queue's claim filter: any case, the cases I hold, the cases nobody holds."""


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
    entity: str = ""
    """The start of an entity id."""
    claim: str = ""
    """One of :data:`CLAIM_FILTERS`."""
    overdue: bool = False
    """Only cases past their app's ``policy.review_sla_hours`` (apps without one: none)."""

    @property
    def narrowed(self) -> bool:
        """Anything but the whole queue: some filter is set."""
        return any((self.app, self.action, self.age, self.entity, self.claim, self.overdue)) or (
            self.score_min,
            self.score_max,
        ) != (None, None)

    def query(self, registry: Registry, now: datetime, *, key_id: str = "") -> QueueQuery:
        """The store's query for these filters; ``key_id`` is who "mine" means."""
        apps = (registry.get(self.app).name,) if self.app else tuple(registry.apps)
        low, high = AGE_FILTERS.get(self.age, (None, None))
        overdue = None
        if self.overdue:
            slas = {a: registry.get(a).spec.policy.review_sla_hours for a in apps}
            overdue = tuple(
                (a, now - timedelta(hours=sla)) for a, sla in slas.items() if sla is not None
            )
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
            entity_id=self.entity.strip() or None,
            claimed_by=(key_id or None) if self.claim == "mine" else None,
            unclaimed=self.claim == "unclaimed",
            overdue=overdue,
        )


def queue_page(
    registry: Registry,
    store: ReviewStore,
    filters: QueueFilters,
    *,
    now: datetime,
    key_id: str = "",
) -> QueuePage:
    return store.review_queue(filters.query(registry, now, key_id=key_id), now=now)


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


def skip_case(
    store: ReviewStore, decision_id: str, *, key_id: str, actor: str, now: datetime
) -> bool:
    """Put a pending case back in the queue and record the skip (``review.skipped``); see
    :meth:`StoreContract.skip_review`."""
    return store.skip_review(decision_id, key_id, actor, now=now)


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
