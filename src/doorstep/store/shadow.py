"""Shadow decisions: what another model version would have decided on a recorded decision.

One row per (decision, shadow version), written beside the champion's decision and never
delivered. :func:`insert_shadow` takes the caller's connection, so the rows can join the
transaction that records their decisions (after them: the foreign key); :func:`iter_shadow`
reads one version's rows in time order, a keyset page at a time, each page its own short read.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from doorstep.store.canonical import dump_json
from doorstep.store.shadow_records import ShadowDecision
from doorstep.store.tables import shadow_decisions

__all__ = ["insert_shadow", "iter_shadow"]


_COLUMNS = [
    "decision_id", "model_version", "app", "entity_id", "model_hash", "score",
    "predicted_class", "action", "rule", "review", "control", "reasons", "created_at",
]  # fmt: skip


def _insert_sql(dialect: str) -> str:
    if dialect == "postgresql":
        marks = ["%s::json" if c == "reasons" else "%s" for c in _COLUMNS]
    else:
        marks = ["?"] * len(_COLUMNS)
    return f"INSERT INTO shadow_decisions ({', '.join(_COLUMNS)}) VALUES ({', '.join(marks)})"


def _driver_time(moment: datetime, sqlite_dialect: bool) -> Any:
    """The value SQLAlchemy's DateTime would bind: SQLite's naive UTC text, else aware UTC."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    moment = moment.astimezone(UTC)
    if sqlite_dialect:
        return moment.replace(tzinfo=None).isoformat(sep=" ", timespec="microseconds")
    return moment


def insert_shadow(conn: sa.Connection, rows: Sequence[ShadowDecision]) -> int:
    """Write ``rows`` in ``conn``'s transaction (after their decisions); returns how many.
    A row whose (decision, version) is already stored fails the transaction."""
    if not rows:
        return 0
    sqlite_dialect = conn.dialect.name == "sqlite"
    values = [
        (
            row.decision_id,
            row.model_version,
            row.app,
            row.entity_id,
            row.model_hash,
            float(row.score),
            row.predicted_class,
            row.action,
            row.rule,
            bool(row.review),
            bool(row.control),
            None if row.reasons is None else dump_json(row.reasons),
            _driver_time(row.created_at, sqlite_dialect),
        )
        for row in rows
    ]
    conn.exec_driver_sql(_insert_sql(conn.dialect.name), values)
    return len(values)


def _record(row: Any) -> ShadowDecision:
    return ShadowDecision(
        decision_id=row.decision_id,
        app=row.app,
        entity_id=row.entity_id,
        model_version=row.model_version,
        model_hash=row.model_hash,
        score=row.score,
        action=row.action,
        rule=row.rule,
        review=bool(row.review),
        control=bool(row.control),
        reasons=row.reasons,
        created_at=row.created_at,
        predicted_class=row.predicted_class,
    )


def iter_shadow(
    read: Callable[[], AbstractContextManager[sa.Connection]],
    app: str,
    model_version: str,
    since: datetime | None,
    until: datetime | None,
    chunk_rows: int,
) -> Iterator[list[ShadowDecision]]:
    """The shadow rows of ``model_version`` for ``app`` whose decisions were made in
    ``[since, until)``, oldest first, in pages of at most ``chunk_rows``. ``read`` opens a read
    transaction; each page takes its own, so memory stays one page however long the history."""
    table = shadow_decisions
    base: list[sa.ColumnElement[bool]] = [
        table.c.app == app,
        table.c.model_version == model_version,
    ]
    if since is not None:
        base.append(table.c.created_at >= since)
    if until is not None:
        base.append(table.c.created_at < until)
    after: tuple[datetime, str] | None = None
    while True:
        where = list(base)
        if after is not None:
            moment, last_id = after
            where.append(
                sa.or_(
                    table.c.created_at > moment,
                    sa.and_(table.c.created_at == moment, table.c.decision_id > last_id),
                )
            )
        query = (
            sa.select(table)
            .where(*where)
            .order_by(table.c.created_at, table.c.decision_id)
            .limit(chunk_rows)
        )
        with read() as conn:
            page = [_record(row) for row in conn.execute(query)]
        if not page:
            return
        yield page
        if len(page) < chunk_rows:
            return
        after = (page[-1].created_at, page[-1].decision_id)
