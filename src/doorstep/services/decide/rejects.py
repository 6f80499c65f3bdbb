"""Refused records as the store keeps them (the ``rejects`` table): one per broken rule, the
offending value as text — masked (``***``) when its field is PII or a sensitive attribute, so
that a reject shows no more than a decision page shows a viewer."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any

import polars as pl

from doorstep.services.apps.loading import LoadedApp
from doorstep.store.rejects import RejectRecord, RejectSource

__all__ = ["MASK", "frame_rejects", "kept_rejects"]

MASK = "***"

_Reject = tuple[int | None, str | None, str | None, str, Any, str]
"""(row or position, entity id, field, rule, value, message)."""


def kept_rejects(
    app: LoadedApp,
    found: Iterable[_Reject],
    *,
    source: RejectSource,
    at: datetime,
    record_of: Callable[[int | None, str | None], str],
    run_id: str | None = None,
) -> list[RejectRecord]:
    """``found`` as rows of the ``rejects`` table; ``record_of(row, entity)`` names the record
    a reject belongs to (the rejects of one record share it)."""
    fields = app.spec.inputs.fields
    hidden = {name for name, spec in fields.items() if spec.masked}
    kept: list[RejectRecord] = []
    for row, entity, field, rule, value, message in found:
        text = None if value is None else str(value)
        if text is not None and field in hidden:
            text = MASK
        kept.append(
            RejectRecord(
                app=app.name,
                at=at,
                source=source,
                record=record_of(row, entity),
                rule=rule,
                message=message,
                field=field,
                value=text,
                entity_id=entity,
                row=row if run_id is not None else None,
                run_id=run_id,
            )
        )
    return kept


def frame_rejects(
    app: LoadedApp, rejects: pl.DataFrame, *, source: RejectSource, at: datetime, run_id: str
) -> list[RejectRecord]:
    """A run's rejects frame (columns of ``REJECT_SCHEMA``: row numbers of its file or
    chunk) as rows of the ``rejects`` table."""
    rows = rejects.select("row", "entity_id", "field", "rule", "value", "message").iter_rows()
    return kept_rejects(
        app, rows, source=source, at=at, record_of=lambda row, _: f"{run_id}:{row}", run_id=run_id
    )
