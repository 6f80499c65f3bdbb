"""The concepts of DESIGN.md ("Concepts") as the code runs on them, from the decision path to
the store, the services, the API and the pages:

- :class:`Decision` — one scored record as recorded, with its :class:`DecisionStatus` and its
  :class:`Reason` s;
- :class:`Review` — a person's verdict on a decision sent for review;
- :class:`Delivery` — one action on its way to a connector: a row of the outbox with its
  :class:`DeliveryAttempt` s (what a connector is handed to send is a
  :class:`doorstep.connectors.base.Message`);
- :class:`Outcome` — what really happened, to be matched to a decision;
- :class:`AuditEvent` — one event of the hash-chained audit trail.

A batch of decisions on its way through the decision path travels as a
:class:`polars.DataFrame` with the columns of
:data:`doorstep.services.decide.batch.DECISION_SCHEMA`. This module loads no columnar library:
the command line imports it at start-up.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any, Literal, TypedDict

__all__ = [
    "DELIVERY_STATES",
    "AuditEvent",
    "Decision",
    "DecisionStatus",
    "Delivery",
    "DeliveryAttempt",
    "DeliveryState",
    "Outcome",
    "Reason",
    "Review",
]


class DecisionStatus(StrEnum):
    """Where a decision stands. Compares equal to its value (``"decided"``) and is stored and
    sent as that string."""

    DECIDED = "decided"
    """The action goes ahead."""
    PENDING_REVIEW = "pending_review"
    """A person decides first (the review band)."""
    HELD_OUT = "held_out"
    """In the control group: decided and recorded, never acted on."""
    APPROVED = "approved"
    """A reviewer approved the action."""
    OVERRIDDEN = "overridden"
    """A reviewer chose another action (or none)."""

    def __repr__(self) -> str:  # messages quote the value, as they did before it was an enum
        return repr(self.value)


class Reason(TypedDict):
    """One feature's signed contribution, with its business label and a sentence."""

    feature: str
    label: str
    value: str
    contribution: float
    """In the model's link space (log-odds for most classifiers)."""
    effect: float
    """Points of probability (classifiers) or target units (regression)."""
    sentence: str


@dataclass(frozen=True)
class Decision:
    """One decision as recorded. ``id`` is a UUIDv7 (sortable by time) made by the caller."""

    id: str
    app: str
    entity_id: str
    model_version: str
    model_hash: str
    inputs: dict[str, Any]
    score: float
    action: str
    rule: str | None
    """The name of the rule that matched (``None`` when the policy's default applied)."""
    review: bool
    control: bool
    status: DecisionStatus
    reasons: list[Reason] | None
    """The top reasons, strongest first; ``None`` for a decision not explained."""
    reasons_text: str | None
    created_at: datetime
    predicted_class: str | None = None
    final_action: str | None = None
    """The action after review (the override's target, or the action when approved)."""
    lineage: dict[str, Any] | None = None
    """Where the inputs came from, for apps with feature sources: ``request`` (the fields the
    request carried) and ``sources`` (per source: ``fields``, ``observed_at``,
    ``age_seconds`` and, with a ``max_age``, ``stale``); ``None`` when all came with the
    request."""


@dataclass(frozen=True)
class Review:
    """A person's verdict on a decision sent for review."""

    decision_id: str
    verdict: Literal["approve", "override"]
    action: str | None
    """The override's action (an action name, or ``none``); ``None`` for an approval."""
    reason: str
    actor: str
    created_at: datetime


DeliveryState = Literal["held", "pending", "sending", "delivered", "dead", "cancelled"]
"""Where a delivery is in the outbox:

- ``held``: its decision waits for a person's verdict (approve releases it, override cancels it);
- ``pending``: due at ``next_attempt_at``; ``sending``: claimed by a worker under a lease;
- ``delivered``; ``dead``: failed for good or out of retries (re-drivable); ``cancelled``.
"""

DELIVERY_STATES: tuple[DeliveryState, ...] = (
    "held", "pending", "sending", "delivered", "dead", "cancelled",
)  # fmt: skip


@dataclass(frozen=True)
class DeliveryAttempt:
    """One attempt of a delivery: ``number`` counts every attempt, also across re-drives.
    ``outcome`` is ``None`` while it runs (or when its worker stopped without finishing)."""

    number: int
    worker: str
    started_at: datetime
    finished_at: datetime | None
    outcome: str | None
    """``delivered``, ``retry``, ``failed``, ``gone``, or ``expired`` (the lease ran out before
    the worker finished; another worker took the delivery over)."""
    status: int | None
    detail: str | None


@dataclass(frozen=True)
class Delivery:
    """One action on its way to a connector, as the outbox holds it."""

    id: str
    decision_id: str | None
    """``None`` for a message that belongs to no decision (an alert)."""
    app: str
    action: str
    connector: str
    key: str
    """The stable idempotency key sent to receivers (``webhook-id``)."""
    state: DeliveryState
    attempts: int
    """Attempts in the current cycle (reset to 0 when a dead delivery is re-driven)."""
    next_attempt_at: datetime | None
    lease_expires_at: datetime | None
    last_status: int | None
    last_detail: str | None
    created_at: datetime
    updated_at: datetime
    delivered_at: datetime | None
    history: tuple[DeliveryAttempt, ...] = ()
    """Every attempt, oldest first (filled when one delivery is read, not in lists)."""


@dataclass(frozen=True)
class Outcome:
    """What really happened, to be recorded: keyed by ``decision_id`` or ``entity_id`` (the
    decision id wins when both are given), with a label or a value, observed at
    ``observed_at``."""

    row: int
    """Where it came from: the 1-based row of a file, or the 0-based index of a request."""
    observed_at: datetime
    decision_id: str | None = None
    entity_id: str | None = None
    label: str | None = None
    value: float | None = None


@dataclass(frozen=True)
class AuditEvent:
    """One event of the audit chain."""

    seq: int
    at: datetime
    actor: str
    kind: str
    """What happened, e.g. ``decisions.recorded``, ``review.recorded``, ``key.created``."""
    subject: str
    payload: dict[str, Any]
