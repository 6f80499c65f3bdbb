"""Stored decisions with their recorded inputs and latest outcome, for a backtest to decide
again: oldest first, a keyset page at a time (each page its own short read), the inputs as their
stored JSON text for the caller to decode a whole page at once."""

from __future__ import annotations

import gc
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa

from doorstep.store.labelled import (
    decided_after,
    decided_between,
    epoch_us,
    is_latest_outcome,
)
from doorstep.store.tables import decisions, outcomes

__all__ = ["REPLAY_COLUMNS", "iter_replay", "no_cycle_collection"]

REPLAY_COLUMNS = (
    "id", "entity_id", "created_us", "model_version", "inputs", "score", "predicted_class",
    "action", "review", "control", "status", "final_action", "label", "value",
)  # fmt: skip
"""Columns of :func:`iter_replay`'s rows, as the database driver returns them (``review`` and
``control`` are 0/1 on SQLite); ``inputs`` is JSON text, ``label`` and ``value`` the latest
outcome's (null without one)."""

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


_latest_outcome = sa.and_(outcomes.c.decision_id == decisions.c.id, is_latest_outcome())
"""Joins a decision to its latest outcome (none: the decision's columns alone)."""


@contextmanager
def no_cycle_collection() -> Iterator[None]:
    """Pause Python's cyclic garbage collector while a page of plain tuples is made or taken
    apart: its tens of thousands of new tuples would otherwise set off collections that walk
    the whole heap, again and again (tuples of scalars hold no cycles; nothing is leaked)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def iter_replay(
    read: Callable[[], AbstractContextManager[sa.Connection]],
    app: str,
    since: datetime | None,
    until: datetime | None,
    chunk_rows: int,
) -> Iterator[list[tuple[Any, ...]]]:
    """Decisions of ``app`` made in ``[since, until)`` as tuples of :data:`REPLAY_COLUMNS`."""
    base = decided_between(app, since, until)
    after: tuple[datetime, str] | None = None
    while True:
        where = base if after is None else [*base, decided_after(after)]
        with read() as conn:
            query = (
                sa.select(
                    decisions.c.id,
                    decisions.c.entity_id,
                    epoch_us(conn.dialect.name),
                    decisions.c.model_version,
                    sa.cast(decisions.c.inputs, sa.Text),
                    decisions.c.score,
                    decisions.c.predicted_class,
                    decisions.c.action,
                    decisions.c.review,
                    decisions.c.control,
                    decisions.c.status,
                    decisions.c.final_action,
                    outcomes.c.label,
                    outcomes.c.value,
                )
                .select_from(decisions.outerjoin(outcomes, _latest_outcome))
                .where(*where)
                .order_by(decisions.c.created_at, decisions.c.id)
                .limit(chunk_rows)
            )
            result = conn.execute(query)
            try:  # the driver's own tuples: no per-row result processing (bools may be 0/1)
                with no_cycle_collection():
                    page: list[tuple[Any, ...]] = list(result.cursor.fetchall())
            finally:
                result.close()
        if not page:
            return
        yield page
        if len(page) < chunk_rows:
            return
        last = page[-1]
        after = (_EPOCH + timedelta(microseconds=int(last[2])), str(last[0]))
