"""Rejected records, kept: one row per broken rule of each record the input contract refused
(the ``rejects`` table), and their counts per window, per field and per rule.

A reject's id is derived from the record it belongs to, its field and its rule, so that writing
the same rejects twice — a run's chunk recorded again — keeps them once.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from doorstep.ids import derived_id
from doorstep.store.tables import rejects

__all__ = ["RejectCount", "RejectRecord", "insert_rejects", "reject_counts"]

RejectSource = Literal["api", "file", "import", "run", "stream"]
MAX_VALUE = 200
"""Characters of an offending value kept (the rest is cut, marked with …)."""


@dataclass(frozen=True)
class RejectRecord:
    """One broken rule of one refused record. ``record`` names the record (a run's id and row,
    an API request's id and position): the rejects of one record share it. ``value`` is the
    offending value as text, already masked when the field is PII."""

    app: str
    at: datetime
    source: RejectSource
    record: str
    rule: str
    message: str
    field: str | None = None
    value: str | None = None
    entity_id: str | None = None
    row: int | None = None
    run_id: str | None = None


@dataclass(frozen=True)
class RejectCount:
    """Rejects of one window (index into the edges asked for), field and rule: ``rows`` broken
    rules, ``records`` distinct records."""

    window: int
    field: str | None
    rule: str
    rows: int
    records: int


def insert_rejects(conn: sa.Connection, found: Sequence[RejectRecord]) -> None:
    if not found:
        return
    values = [
        {
            "id": derived_id(
                int(r.at.timestamp() * 1000), f"{r.app}\n{r.record}\n{r.field}\n{r.rule}"
            ),
            "app": r.app[:200],
            "at": r.at,
            "source": r.source,
            "record": r.record[:120],
            "run_id": r.run_id,
            "row": r.row,
            "entity_id": None if r.entity_id is None else r.entity_id[:200],
            "field": None if r.field is None else r.field[:200],
            "rule": r.rule[:64],
            "value": _cut(r.value),
            "message": r.message,
        }
        for r in found
    ]
    insert = postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
    conn.execute(insert(rejects).on_conflict_do_nothing(), values)


def _cut(value: str | None) -> str | None:
    if value is None or len(value) <= MAX_VALUE:
        return value
    return value[: MAX_VALUE - 1] + "…"


def reject_counts(conn: sa.Connection, app: str, edges: Sequence[datetime]) -> list[RejectCount]:
    """Rejects per window ``[edges[i], edges[i + 1])``, field and rule (one aggregation per
    window over the ``(app, at)`` index), and per window the records refused (rule ``*``,
    field ``None``): a record that broke two rules is one record."""
    found: list[RejectCount] = []
    for index, (start, end) in enumerate(zip(edges[:-1], edges[1:], strict=True)):
        where = (rejects.c.app == app, rejects.c.at >= start, rejects.c.at < end)
        query = (
            sa.select(
                rejects.c.field,
                rejects.c.rule,
                sa.func.count(),
                sa.func.count(sa.distinct(rejects.c.record)),
            )
            .where(*where)
            .group_by(rejects.c.field, rejects.c.rule)
            .order_by(rejects.c.field, rejects.c.rule)
        )
        rows = list(conn.execute(query))
        if not rows:
            continue
        records = conn.execute(
            sa.select(sa.func.count(sa.distinct(rejects.c.record))).where(*where)
        ).scalar_one()
        counts = [RejectCount(index, f, r, int(n), int(d)) for f, r, n, d in rows]
        total = sum(c.rows for c in counts)
        found += [*counts, RejectCount(index, None, "*", total, int(records))]
    return found
