"""Reviews: a person approves a decision sent for review, or overrides it with another action.

The checks that need the spec (is the override target an action of this app?) happen here; the
store guarantees that only one verdict is ever recorded per decision, also under concurrency.
With the verdict, in the same transaction, the decision's held delivery is released (approve) or
cancelled and replaced by one of the override's action (see ``docs/deliveries.md``). Those
deliveries are due only once the app's undo window (``policy.review_undo_seconds``) has closed;
until then :func:`undo_verdict` takes the verdict back.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal, Protocol

from doorstep.core.suggest import did_you_mean
from doorstep.errors import RecordError, RecordsInvalidError, ReviewConflictError
from doorstep.services.apps.registry import Registry
from doorstep.services.decide.history import get_decision
from doorstep.services.deliver.actions import delivery_for
from doorstep.store.protocols import (
    DecisionStore,
    DeliveryRecord,
    ReviewStore,
    Verdict,
)
from doorstep.types import Decision

__all__ = [
    "REASON_MAX_LENGTH",
    "GivenVerdict",
    "VerdictStore",
    "given_verdict",
    "review_decision",
    "undo_verdict",
]


class VerdictStore(DecisionStore, ReviewStore, Protocol):
    """What a verdict reads (the decision) and writes (the review, its deliveries)."""


PENDING = "pending_review"

REASON_MAX_LENGTH = 2_000
"""The longest reason a verdict takes, in characters (after stripping), however it arrives:
the API's body and the pages' form both end here."""


def review_decision(
    registry: Registry,
    store: VerdictStore,
    decision_id: str,
    *,
    verdict: Literal["approve", "override"],
    reason: str,
    actor: str,
    action: str | None = None,
    key_id: str | None = None,
) -> Decision:
    """Record ``verdict`` on a ``pending_review`` decision and return the updated decision.
    ``key_id`` is the reviewer's key: another key's live claim on the case refuses the verdict."""
    if not reason.strip():
        raise RecordsInvalidError(
            "A review needs a reason: say in a sentence why you approve or override.",
            [
                RecordError.of_field(
                    "reason", "required", "reason is required and must not be blank"
                )
            ],
        )
    if len(reason.strip()) > REASON_MAX_LENGTH:
        message = (
            f"reason must have at most {REASON_MAX_LENGTH:,} characters; got "
            f"{len(reason.strip()):,}"
        )
        raise RecordsInvalidError(
            f"A review's reason must have at most {REASON_MAX_LENGTH:,} characters: say in a "
            f"sentence or a paragraph why; got {len(reason.strip()):,} characters.",
            [RecordError.of_field("reason", "max", message)],
        )
    record = get_decision(store, decision_id)
    if verdict == "override":
        _check_action(registry, record, action)
    if record.status != PENDING:
        given = store.get_review(decision_id)
        if given is not None:
            at = given.created_at.strftime("%Y-%m-%d %H:%M UTC")
            done = "approved" if given.verdict == "approve" else f"overridden ({given.action})"
            raise ReviewConflictError(
                f"This case ({record.app} {record.entity_id}) was already {done} by "
                f"{given.actor.removeprefix('key:')} at {at}, with the reason: {given.reason!r}. "
                "A case takes one verdict; nothing was recorded. Go on with the next case."
            )
        raise ReviewConflictError(
            f"Decision {decision_id} is {record.status!r}, not 'pending_review': only decisions "
            "sent for review take a verdict, and only one."
        )
    deliveries: list[DeliveryRecord] = []
    app = registry.apps.get(record.app)
    if verdict == "override" and action is not None and app is not None and not record.control:
        new = delivery_for(app.spec, record, action, held=False)
        deliveries = [new] if new is not None else []
    return store.review(
        Verdict(
            decision_id=decision_id,
            verdict=verdict,
            reason=reason.strip(),
            actor=actor,
            action=action if verdict == "override" else None,
            deliveries=deliveries,
            key_id=key_id,
            hold_seconds=app.spec.policy.review_undo_seconds if app is not None else 0.0,
        )
    )


@dataclass(frozen=True)
class GivenVerdict:
    """A verdict just given, as the page after it names it: the case, what was done, and until
    when it can be undone (``None``: not any more)."""

    decision_id: str
    entity_id: str
    app: str
    done: str
    """``approved`` or ``overridden to none``."""
    undo_until: datetime | None


def given_verdict(
    registry: Registry, store: VerdictStore, decision_id: str, *, now: datetime
) -> GivenVerdict | None:
    """The verdict on ``decision_id`` for the banner after it, or ``None`` when it has none."""
    record = store.get_decision(decision_id)
    given = store.get_review(decision_id) if record is not None else None
    if record is None or given is None:
        return None
    app = registry.apps.get(record.app)
    seconds = app.spec.policy.review_undo_seconds if app is not None else 0.0
    until = given.created_at + timedelta(seconds=seconds)
    done = "approved" if given.verdict == "approve" else f"overridden to {given.action}"
    return GivenVerdict(
        decision_id, record.entity_id, record.app, done, until if now < until else None
    )


def undo_verdict(store: VerdictStore, decision_id: str, *, actor: str) -> Decision:
    """Take back the verdict on ``decision_id`` within its app's ``policy.review_undo_seconds``:
    the case is back in the queue, its action held again, ``review.undone`` recorded."""
    return store.undo_review(decision_id, actor, now=datetime.now(UTC))


def _check_action(registry: Registry, record: Decision, action: str | None) -> None:
    app = registry.apps.get(record.app)
    known = ["none", *(app.spec.actions if app is not None else [])]
    if action is None:
        raise RecordsInvalidError(
            "An override needs 'action': the action to take instead (or 'none').",
            [
                RecordError.of_field(
                    "action", "required", f"action is required; one of {', '.join(known)}"
                )
            ],
        )
    if app is not None and action not in known:
        message = f"unknown action {action!r}{did_you_mean(action, known)}; one of " + ", ".join(
            repr(k) for k in known
        )
        raise RecordsInvalidError(
            f"The override names an {message}.",
            [RecordError.of_field("action", "allowed_values", message)],
        )
