"""Decisions joined with what happened: streamed in chunks for live quality, ROI and training
data, never loaded whole.

A decision's outcome is its **latest** one (by observation time): a later observation corrects
an earlier one. Decisions are chosen by the time they were made (``since`` inclusive, ``until``
exclusive).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from doorstep.store.feedback import LABELLED_COLUMNS, TRAINING_COLUMNS, FeedbackCounts, WindowCounts
from doorstep.store.tables import decisions, outcomes, reviews

__all__ = [
    "decided_after",
    "decided_between",
    "epoch_us",
    "feedback_counts",
    "iter_labelled",
    "is_latest_outcome",
    "iter_training_rows",
    "window_counts",
]


def decided_between(
    app: str, since: datetime | None, until: datetime | None
) -> list[sa.ColumnElement[bool]]:
    """The conditions of ``app``'s decisions made in ``[since, until)`` (either end open)."""
    where: list[sa.ColumnElement[bool]] = [decisions.c.app == app]
    if since is not None:
        where.append(decisions.c.created_at >= since)
    if until is not None:
        where.append(decisions.c.created_at < until)
    return where


def decided_after(after: tuple[datetime, str]) -> sa.ColumnElement[bool]:
    """Decisions after ``(created_at, id)`` in (created_at, id) order: the next keyset page."""
    moment, last_id = after
    return sa.or_(
        decisions.c.created_at > moment,
        sa.and_(decisions.c.created_at == moment, decisions.c.id > last_id),
    )


def is_latest_outcome() -> sa.ColumnElement[bool]:
    """True for the outcome row that is its decision's latest (no later observation, or a
    later id at the same time): an anti-join each database runs as an index probe on
    ``ix_outcomes_decision``, whatever its statistics say."""
    later = outcomes.alias("later")
    return ~sa.exists().where(
        later.c.decision_id == outcomes.c.decision_id,
        sa.or_(
            later.c.observed_at > outcomes.c.observed_at,
            sa.and_(later.c.observed_at == outcomes.c.observed_at, later.c.id > outcomes.c.id),
        ),
    )


def epoch_us(dialect: str) -> sa.ColumnElement[Any]:
    """``decisions.created_at`` as integer microseconds since the epoch, exactly: PostgreSQL's
    epoch is numeric; SQLite keeps the time as text ``YYYY-MM-DD HH:MM:SS.ffffff`` (UTC)."""
    if dialect == "postgresql":
        seconds = sa.func.extract("epoch", decisions.c.created_at)
        return sa.cast(sa.func.round(seconds * 1_000_000), sa.BigInteger)
    text = decisions.c.created_at
    whole = sa.cast(sa.func.strftime("%s", sa.func.substr(text, 1, 19)), sa.BigInteger)
    fraction = sa.cast(sa.func.substr(text, 21, 6), sa.BigInteger)
    return whole * 1_000_000 + fraction


def _stream(conn: sa.Connection, query: sa.Select[Any], chunk_rows: int) -> Iterator[list[Any]]:
    """Rows in chunks, from a server-side cursor on PostgreSQL."""
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
    columns: dict[str, sa.ColumnElement[Any]] = {c.name: c for c in decisions.c}
    columns["created_us"] = epoch_us(conn.dialect.name)
    query = (
        sa.select(
            *(columns[name] for name in LABELLED_COLUMNS[:-2]), outcomes.c.label, outcomes.c.value
        )
        .select_from(decisions)
        .join(outcomes, outcomes.c.decision_id == decisions.c.id)
        .where(*decided_between(app, since, until), is_latest_outcome())
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
    oldest first: a page of decisions at a time (keyset over ``(created_at, id)``), then the
    page's reviews and outcomes by decision id."""
    after: tuple[datetime, str] | None = None
    columns = [
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
    ]
    assert len(columns) + 6 == len(TRAINING_COLUMNS)  # + review (2) + outcome (4)
    while True:
        where = decided_between(app, since, until)
        if after is not None:
            where.append(
                sa.or_(
                    decisions.c.created_at > after[0],
                    sa.and_(decisions.c.created_at == after[0], decisions.c.id > after[1]),
                )
            )
        if labelled_only:
            where.append(sa.exists().where(outcomes.c.decision_id == decisions.c.id))
        page = conn.execute(
            sa.select(*columns)
            .where(*where)
            .order_by(decisions.c.created_at, decisions.c.id)
            .limit(chunk_rows)
        ).all()
        if not page:
            return
        ids = [row.id for row in page]
        verdicts = {
            row.decision_id: (row.verdict, row.created_at)
            for row in conn.execute(
                sa.select(reviews.c.decision_id, reviews.c.verdict, reviews.c.created_at).where(
                    reviews.c.decision_id.in_(ids)
                )
            )
        }
        latest: dict[str, tuple[Any, ...]] = {}
        for row in conn.execute(
            sa.select(
                outcomes.c.decision_id,
                outcomes.c.label,
                outcomes.c.value,
                outcomes.c.observed_at,
                outcomes.c.ref_kind,
            )
            .where(outcomes.c.decision_id.in_(ids))
            .order_by(outcomes.c.decision_id, outcomes.c.observed_at.desc(), outcomes.c.id.desc())
        ):
            latest.setdefault(row.decision_id, tuple(row)[1:])
        yield [
            (
                *row,
                *verdicts.get(row.id, (None, None)),
                *latest.get(row.id, (None, None, None, None)),
            )
            for row in page
        ]
        if len(page) < chunk_rows:
            return
        after = (page[-1].created_at, page[-1].id)


def feedback_counts(
    conn: sa.Connection, app: str, since: datetime | None, until: datetime | None
) -> FeedbackCounts:
    """Decisions, labelled decisions and outcomes of the range, by SQL aggregation."""
    status = decisions.c.status
    flags = (
        sa.case((decisions.c.action != "none", 1), else_=0),
        sa.case((decisions.c.control, 1), else_=0),
        sa.case((status.in_(("approved", "overridden")), 1), else_=0),
        sa.case((status == "overridden", 1), else_=0),
        sa.case((status == "pending_review", 1), else_=0),
    )
    row = conn.execute(
        sa.select(sa.func.count(), *(sa.func.coalesce(sa.func.sum(f), 0) for f in flags)).where(
            *decided_between(app, since, until)
        )
    ).one()
    matched, labelled = conn.execute(
        sa.select(sa.func.count(), sa.func.count(sa.distinct(outcomes.c.decision_id)))
        .select_from(outcomes)
        .join(decisions, decisions.c.id == outcomes.c.decision_id)
        .where(*decided_between(app, since, until))
    ).one()
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
        labelled=int(labelled),
        would_act=int(row[1]),
        control=int(row[2]),
        reviewed=int(row[3]),
        overridden=int(row[4]),
        pending_review=int(row[5]),
        outcomes_matched=int(matched),
        unmatched=unmatched,
    )


def window_counts(
    conn: sa.Connection, app: str, since: datetime, until: datetime, step_seconds: int
) -> list[WindowCounts]:
    """Decisions and their reviews per window of ``step_seconds`` from ``since`` (by decision
    time) and per model version: one aggregation over the ``(app, created_at)`` index."""
    start_us = _epoch_us_of(since)
    index = ((epoch_us(conn.dialect.name) - start_us) // (step_seconds * 1_000_000)).label("w")
    status = decisions.c.status
    rows = conn.execute(
        sa.select(
            index,
            decisions.c.model_version,
            sa.func.count(),
            sa.func.coalesce(
                sa.func.sum(sa.case((status.in_(("approved", "overridden")), 1), else_=0)), 0
            ),
            sa.func.coalesce(sa.func.sum(sa.case((status == "overridden", 1), else_=0)), 0),
            sa.func.coalesce(sa.func.sum(sa.case((status == "pending_review", 1), else_=0)), 0),
        )
        .where(*decided_between(app, since, until))
        .group_by(index, decisions.c.model_version)
        .order_by(index, decisions.c.model_version)
    )
    return [
        WindowCounts(int(w), str(version), int(n), int(reviewed), int(overridden), int(pending))
        for w, version, n, reviewed, overridden, pending in rows
    ]


def window_counts_between(
    conn: sa.Connection, app: str, edges: list[datetime]
) -> list[WindowCounts]:
    """:func:`window_counts` for windows of any lengths (months, windows of rows): window
    ``i`` is ``[edges[i], edges[i + 1])``; one aggregation per window, over the index."""
    status = decisions.c.status
    found: list[WindowCounts] = []
    for index, (start, end) in enumerate(zip(edges[:-1], edges[1:], strict=True)):
        rows = conn.execute(
            sa.select(
                decisions.c.model_version,
                sa.func.count(),
                sa.func.coalesce(
                    sa.func.sum(sa.case((status.in_(("approved", "overridden")), 1), else_=0)), 0
                ),
                sa.func.coalesce(sa.func.sum(sa.case((status == "overridden", 1), else_=0)), 0),
                sa.func.coalesce(sa.func.sum(sa.case((status == "pending_review", 1), else_=0)), 0),
            )
            .where(*decided_between(app, start, end))
            .group_by(decisions.c.model_version)
            .order_by(decisions.c.model_version)
        )
        found += [
            WindowCounts(index, str(version), int(n), int(reviewed), int(over), int(pending))
            for version, n, reviewed, over, pending in rows
        ]
    return found


def row_window_edges(conn: sa.Connection, app: str, rows: int) -> list[datetime]:
    """The times of the app's decisions number 1, ``rows`` + 1, 2 ``rows`` + 1, … in the order
    of their time (then id): where each window of ``rows`` decisions starts."""
    number = sa.func.row_number().over(order_by=(decisions.c.created_at, decisions.c.id))
    ranked = (
        sa.select(decisions.c.created_at.label("at"), number.label("n"))
        .where(decisions.c.app == app)
        .subquery()
    )
    query = sa.select(ranked.c.at).where((ranked.c.n - 1) % rows == 0).order_by(ranked.c.n)
    return [at for (at,) in conn.execute(query)]


def _epoch_us_of(moment: datetime) -> int:
    delta = moment.astimezone(UTC) - datetime(1970, 1, 1, tzinfo=UTC)
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds
