"""Decisions recorded with the time they were made instead of now (history: ``doorstep
decisions import``, or the API's ``decided_at`` for admin and owner keys).

Such a decision is marked in its lineage (``imported``: where it came from), so that every view
can tell it from a live one; it never enqueues deliveries, and one that fell in the review band
is recorded ``decided`` with ``review`` true: history is not put in front of reviewers again.
"""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from typing import Any

from doorstep.types import Decision, DecisionStatus

__all__ = ["as_backfilled", "is_imported", "parse_decided_at"]


def as_backfilled(decision: Decision, at: datetime, mark: dict[str, Any]) -> Decision:
    """``decision`` as made at ``at``, its lineage marked ``imported: mark``."""
    status = decision.status
    if status == DecisionStatus.PENDING_REVIEW:
        status = DecisionStatus.DECIDED
    lineage = {**(decision.lineage or {"request": [], "sources": {}}), "imported": mark}
    return dataclasses.replace(decision, created_at=at, status=status, lineage=lineage)


def is_imported(decision: Decision) -> bool:
    """Whether ``decision`` was recorded as history, not decided live."""
    return bool(decision.lineage and decision.lineage.get("imported"))


def parse_decided_at(text: str, now: datetime) -> datetime | str:
    """A decision time from ISO 8601 text (UTC when it names no zone), or why it is not one."""
    try:
        at = datetime.fromisoformat(text.strip())
    except ValueError:
        return f"{text!r} is not a time (ISO 8601, e.g. 2026-01-31T09:30:00Z)"
    at = at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)
    if at > now:
        return f"{text!r} is in the future"
    return at
