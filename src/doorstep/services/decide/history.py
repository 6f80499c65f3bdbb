"""Decisions as recorded: one by its id, or a page of an app's decisions by filter (newest first,
with a cursor stable under concurrent inserts)."""

from __future__ import annotations

from doorstep.errors import NotFoundError
from doorstep.store.protocols import DecisionPage, DecisionQuery, DecisionStore
from doorstep.types import Decision

__all__ = ["find_decision", "get_decision", "list_decisions"]


def get_decision(store: DecisionStore, decision_id: str) -> Decision:
    """The decision with this id; :class:`NotFoundError` when there is none."""
    record = store.get_decision(decision_id)
    if record is None:
        raise NotFoundError(
            f"There is no decision {decision_id!r}. Decision ids are the 'decision_id' values "
            "returned by POST /v1/apps/{app}/decisions."
        )
    return record


def find_decision(store: DecisionStore, decision_id: str) -> Decision | None:
    """The decision with this id, or ``None`` (a page shows what it can without it)."""
    return store.get_decision(decision_id)


def list_decisions(store: DecisionStore, query: DecisionQuery) -> DecisionPage:
    """A page of decisions matching ``query``, newest first."""
    return store.list_decisions(query)
