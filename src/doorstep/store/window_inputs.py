"""Decisions' inputs and scores in time order, a page at a time: what the drift monitor counts.

Pages are keyset reads over ``(created_at, id)`` (the ``ix_decisions_app_created`` index), each
its own short query, so a long history is never held in memory nor behind one long read.
Inputs come back as their stored JSON text, for the caller to decode a whole page at once.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa

from doorstep.store.labelled import decided_after, decided_between, epoch_us
from doorstep.store.tables import decisions

__all__ = ["WINDOW_INPUT_COLUMNS", "iter_window_inputs"]

WINDOW_INPUT_COLUMNS = ("id", "created_us", "model_version", "inputs", "score", "action")
"""Columns of the rows :func:`iter_window_inputs` yields; ``inputs`` is JSON text, ``action``
the policy's choice (estimated quality counts it as the prediction)."""

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def iter_window_inputs(
    read: Callable[[], AbstractContextManager[sa.Connection]],
    app: str,
    since: datetime | None,
    until: datetime | None,
    chunk_rows: int,
) -> Iterator[list[tuple[Any, ...]]]:
    """Decisions of ``app`` made in ``[since, until)``, oldest first, in pages of at most
    ``chunk_rows`` tuples of :data:`WINDOW_INPUT_COLUMNS`. ``read`` opens a read transaction;
    each page takes its own."""
    created_us: sa.ColumnElement[Any] | None = None
    base = decided_between(app, since, until)
    after: tuple[datetime, str] | None = None
    while True:
        where = base if after is None else [*base, decided_after(after)]
        with read() as conn:
            if created_us is None:
                created_us = epoch_us(conn.dialect.name)
            query = (
                sa.select(
                    decisions.c.id,
                    created_us,
                    decisions.c.model_version,
                    sa.cast(decisions.c.inputs, sa.Text),
                    decisions.c.score,
                    decisions.c.action,
                )
                .where(*where)
                .order_by(decisions.c.created_at, decisions.c.id)
                .limit(chunk_rows)
            )
            page = [tuple(row) for row in conn.execute(query)]
        if not page:
            return
        yield page
        if len(page) < chunk_rows:
            return
        last = page[-1]
        after = (_EPOCH + timedelta(microseconds=int(last[1])), str(last[0]))
