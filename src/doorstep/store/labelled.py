"""Decisions joined with what happened: streamed in chunks for live quality, ROI and training
data, never loaded whole.

A decision's outcome is its **latest** one (by observation time): a later observation corrects
an earlier one. Decisions are chosen by the time they were made (``since`` inclusive, ``until``
exclusive).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from doorstep.store.feedback import LABELLED_COLUMNS, TRAINING_COLUMNS, FeedbackCounts
from doorstep.store.tables import decisions, outcomes, reviews

__all__ = ["feedback_counts", "iter_labelled", "iter_training_rows"]


def _in_range(
    app: str, since: datetime | None, until: datetime | None
) -> list[sa.ColumnElement[bool]]:
    where: list[sa.ColumnElement[bool]] = [decisions.c.app == app]
    if since is not None:
        where.append(decisions.c.created_at >= since)
    if until is not None:
        where.append(decisions.c.created_at < until)
    return where


def _latest_outcomes(app: str, since: datetime | None, until: datetime | None) -> sa.Subquery:
    """Each decision's latest outcome (decisions of the range only)."""
    in_range = sa.select(decisions.c.id).where(*_in_range(app, since, until))
    rank = (
        sa.func.row_number()
        .over(
            partition_by=outcomes.c.decision_id,
            order_by=(outcomes.c.observed_at.desc(), outcomes.c.id.desc()),
        )
        .label("rank")
    )
    return (
        sa.select(
            outcomes.c.decision_id,
            outcomes.c.label,
            outcomes.c.value,
            outcomes.c.observed_at,
            outcomes.c.ref_kind,
            rank,
        )
        .where(outcomes.c.app == app, outcomes.c.decision_id.in_(in_range))
        .subquery("latest")
    )


def _stream(conn: sa.Connection, query: sa.Select[Any], chunk_rows: int) -> Iterator[list[Any]]:
    result = conn.execution_options(stream_results=True, yield_per=chunk_rows).execute(query)
    for partition in result.partitions(chunk_rows):
        yield [tuple(row) for row in partition]


def iter_labelled(
    conn: sa.Connection,
    app: str,
    since: datetime | None,
    until: datetime | None,
    chunk_rows: int,
) -> Iterator[list[Any]]:
    """Labelled decisions as tuples of :data:`LABELLED_COLUMNS`, by ascending score."""
    latest = _latest_outcomes(app, since, until)
    columns = {c.name: c for c in decisions.c}
    query = (
        sa.select(
            *(columns[name] for name in LABELLED_COLUMNS[:-2]), latest.c.label, latest.c.value
        )
        .join(latest, sa.and_(latest.c.decision_id == decisions.c.id, latest.c.rank == 1))
        .where(*_in_range(app, since, until))
        .order_by(decisions.c.score, decisions.c.id)
    )
    yield from _stream(conn, query, chunk_rows)


def iter_training_rows(
    conn: sa.Connection,
    app: str,
    since: datetime | None,
    until: datetime | None,
    *,
    labelled_only: bool,
    chunk_rows: int,
) -> Iterator[list[Any]]:
    """Decisions with their review and latest outcome as tuples of :data:`TRAINING_COLUMNS`,
    oldest first."""
    latest = _latest_outcomes(app, since, until)
    on = sa.and_(latest.c.decision_id == decisions.c.id, latest.c.rank == 1)
    query = (
        sa.select(
            decisions.c.id,
            decisions.c.entity_id,
            decisions.c.created_at,
            decisions.c.model_version,
            decisions.c.inputs,
            decisions.c.score,
            decisions.c.predicted_class,
            decisions.c.action,
            decisions.c.rule,
            decisions.c.review,
            decisions.c.control,
            decisions.c.status,
            decisions.c.final_action,
            reviews.c.verdict,
            reviews.c.created_at,
            latest.c.label,
            latest.c.value,
            latest.c.observed_at,
            latest.c.ref_kind,
        )
        .select_from(decisions)
        .join(reviews, reviews.c.decision_id == decisions.c.id, isouter=True)
        .join(latest, on, isouter=not labelled_only)
        .where(*_in_range(app, since, until))
        .order_by(decisions.c.created_at, decisions.c.id)
    )
    assert len(query.selected_columns) == len(TRAINING_COLUMNS)
    yield from _stream(conn, query, chunk_rows)


def feedback_counts(
    conn: sa.Connection, app: str, since: datetime | None, until: datetime | None
) -> FeedbackCounts:
    """Decisions, labelled decisions and outcomes of the range, by SQL aggregation."""
    latest = _latest_outcomes(app, since, until)
    acting = sa.case((decisions.c.action != "none", 1), else_=0)
    control = sa.case((decisions.c.control, 1), else_=0)
    labelled = sa.case((latest.c.decision_id.is_not(None), 1), else_=0)
    row = conn.execute(
        sa.select(
            sa.func.count(),
            sa.func.coalesce(sa.func.sum(labelled), 0),
            sa.func.coalesce(sa.func.sum(acting), 0),
            sa.func.coalesce(sa.func.sum(control), 0),
        )
        .select_from(decisions)
        .join(
            latest,
            sa.and_(latest.c.decision_id == decisions.c.id, latest.c.rank == 1),
            isouter=True,
        )
        .where(*_in_range(app, since, until))
    ).one()
    matched_query = (
        sa.select(sa.func.count())
        .select_from(outcomes)
        .join(decisions, decisions.c.id == outcomes.c.decision_id)
        .where(*_in_range(app, since, until))
    )
    unmatched_query = sa.select(outcomes.c.unmatched, sa.func.count()).where(
        outcomes.c.app == app, outcomes.c.unmatched.is_not(None)
    )
    if since is not None:
        unmatched_query = unmatched_query.where(outcomes.c.observed_at >= since)
    if until is not None:
        unmatched_query = unmatched_query.where(outcomes.c.observed_at < until)
    unmatched = {
        reason: int(count)
        for reason, count in conn.execute(unmatched_query.group_by(outcomes.c.unmatched))
    }
    return FeedbackCounts(
        decisions=int(row[0]),
        labelled=int(row[1]),
        would_act=int(row[2]),
        control=int(row[3]),
        outcomes_matched=int(conn.execute(matched_query).scalar_one()),
        unmatched=unmatched,
    )
