"""A decision's case as a reviewer reads it: the decision, its deliveries with every attempt, the
model version that decided it, its audit trail, the verdict and, while it waits, who holds it.
One read of the store (one transaction), whatever the number of deliveries."""

from __future__ import annotations

from datetime import UTC, datetime

from doorstep.errors import NotFoundError
from doorstep.store.protocols import ActivityStore
from doorstep.store.views import DecisionCase

__all__ = ["decision_case"]


def decision_case(
    store: ActivityStore, decision_id: str, *, now: datetime | None = None
) -> DecisionCase:
    """The case of ``decision_id``; :class:`NotFoundError` when there is no such decision."""
    case = store.decision_case(decision_id, now=now or datetime.now(UTC))
    if case is None:
        raise NotFoundError(
            f"There is no decision {decision_id!r}. Decision ids are the 'decision_id' values "
            "returned by POST /v1/apps/{app}/decisions."
        )
    return case
