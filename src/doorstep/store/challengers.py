"""Reads for champion against challenger: labelled decisions with the version that made them
(a canary decides its own share), shadow rows beside the champion's decisions they shadow,
with the decisions' latest outcome, and counts per version. Streamed in chunks, oldest first.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from doorstep.store.labelled import decided_between, epoch_us, is_latest_outcome
from doorstep.store.shadow_records import VersionCounts
from doorstep.store.tables import decisions, outcomes, shadow_decisions

__all__ = [
    "SHADOW_LABELLED_COLUMNS",
    "VERSION_LABELLED_COLUMNS",
    "VersionCounts",
    "iter_shadow_labelled",
    "iter_version_labelled",
    "shadow_counts",
    "version_counts",
]

VERSION_LABELLED_COLUMNS = (
    "id", "created_us", "model_version", "score", "predicted_class", "action", "final_action",
    "status", "control", "review", "label", "value",
)  # fmt: skip
"""Columns of :func:`iter_version_labelled`'s rows."""

SHADOW_LABELLED_COLUMNS = (
    "id", "created_us", "score", "predicted_class", "action", "final_action", "status",
    "control", "review", "shadow_score", "shadow_predicted_class", "shadow_action",
    "shadow_control", "shadow_review", "label", "value",
)  # fmt: skip
"""Columns of :func:`iter_shadow_labelled`'s rows: the champion's decision, then the shadow's."""


def _stream(conn: sa.Connection, query: sa.Select[Any], chunk_rows: int) -> Iterator[list[Any]]:
    result = conn.execution_options(stream_results=True, yield_per=chunk_rows).execute(query)
    for partition in result.partitions(chunk_rows):
        yield [tuple(row) for row in partition]


def iter_version_labelled(
    conn: sa.Connection,
    app: str,
    since: datetime | None,
    until: datetime | None,
    chunk_rows: int,
) -> Iterator[list[Any]]:
    """Decisions of ``[since, until)`` with their latest outcome, whatever version made them,
    as tuples of :data:`VERSION_LABELLED_COLUMNS`."""
    columns = {c.name: c for c in decisions.c}
    query = (
        sa.select(
            columns["id"],
            epoch_us(conn.dialect.name),
            *(columns[n] for n in VERSION_LABELLED_COLUMNS[2:-2]),
            outcomes.c.label,
            outcomes.c.value,
        )
        .select_from(decisions)
        .join(outcomes, outcomes.c.decision_id == decisions.c.id)
        .where(*decided_between(app, since, until), is_latest_outcome())
        .order_by(decisions.c.created_at, decisions.c.id)
    )
    yield from _stream(conn, query, chunk_rows)


def iter_shadow_labelled(
    conn: sa.Connection,
    app: str,
    model_version: str,
    since: datetime | None,
    until: datetime | None,
    chunk_rows: int,
) -> Iterator[list[Any]]:
    """Decisions of ``[since, until)`` that ``model_version`` shadowed and that have an
    outcome, as tuples of :data:`SHADOW_LABELLED_COLUMNS`."""
    s = shadow_decisions
    query = (
        sa.select(
            decisions.c.id,
            epoch_us(conn.dialect.name),
            decisions.c.score,
            decisions.c.predicted_class,
            decisions.c.action,
            decisions.c.final_action,
            decisions.c.status,
            decisions.c.control,
            decisions.c.review,
            s.c.score,
            s.c.predicted_class,
            s.c.action,
            s.c.control,
            s.c.review,
            outcomes.c.label,
            outcomes.c.value,
        )
        .select_from(s)
        .join(decisions, decisions.c.id == s.c.decision_id)
        .join(outcomes, outcomes.c.decision_id == decisions.c.id)
        .where(s.c.app == app, s.c.model_version == model_version)
        .where(*decided_between(app, since, until), is_latest_outcome())
        .order_by(decisions.c.created_at, decisions.c.id)
    )
    yield from _stream(conn, query, chunk_rows)


def version_counts(
    conn: sa.Connection, app: str, since: datetime | None, until: datetime | None
) -> list[VersionCounts]:
    """Decisions per model version, with how many acted, were reviewed and were overridden."""
    status = decisions.c.status
    rows = conn.execute(
        sa.select(
            decisions.c.model_version,
            sa.func.count(),
            sa.func.coalesce(sa.func.sum(sa.case((decisions.c.action != "none", 1), else_=0)), 0),
            sa.func.coalesce(
                sa.func.sum(sa.case((status.in_(("approved", "overridden")), 1), else_=0)), 0
            ),
            sa.func.coalesce(sa.func.sum(sa.case((status == "overridden", 1), else_=0)), 0),
        )
        .where(*decided_between(app, since, until))
        .group_by(decisions.c.model_version)
        .order_by(decisions.c.model_version)
    ).all()
    return [VersionCounts(str(r[0]), int(r[1]), int(r[2]), int(r[3]), int(r[4])) for r in rows]


def shadow_counts(
    conn: sa.Connection, app: str, since: datetime | None, until: datetime | None
) -> list[VersionCounts]:
    """Shadow rows per version whose decisions were made in the range (never reviewed: a
    shadow decides nothing anyone acts on; ``reviewed`` counts those it would have sent)."""
    s = shadow_decisions
    where: list[Any] = [s.c.app == app]
    if since is not None:
        where.append(s.c.created_at >= since)
    if until is not None:
        where.append(s.c.created_at < until)
    rows = conn.execute(
        sa.select(
            s.c.model_version,
            sa.func.count(),
            sa.func.coalesce(sa.func.sum(sa.case((s.c.action != "none", 1), else_=0)), 0),
            sa.func.coalesce(sa.func.sum(sa.case((s.c.review, 1), else_=0)), 0),
        )
        .where(*where)
        .group_by(s.c.model_version)
        .order_by(s.c.model_version)
    ).all()
    return [VersionCounts(str(r[0]), int(r[1]), int(r[2]), int(r[3]), 0) for r in rows]
