"""The one step after :func:`~doorstep.services.decide.batch.decide_batch`: a decided batch
becomes the decisions the store records and the errors of the records it refused.

Every path that records decisions goes through it — API requests (one record, a micro-batch of
them, or ``{"records": [...]}``), batch runs from feature sources (``doorstep score --from`` and
scheduled runs) and what later paths add — so a decision is stored with the same fields, the
same lineage and the same model identity whichever way it came in.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from operator import itemgetter
from typing import Any

import polars as pl

from doorstep.errors import RecordError
from doorstep.ids import new_id
from doorstep.services.apps.loading import LoadedApp
from doorstep.services.decide.batch import DecisionBatch
from doorstep.store.decision_rows import DecisionRows
from doorstep.store.shadow_records import ShadowDecision
from doorstep.types import Decision, DecisionStatus

__all__ = ["Recorded", "RecordedRows", "record_batch", "record_rows"]


@dataclass(frozen=True)
class Recorded:
    """A decided batch as stored decisions and refused records, tied back to the input."""

    decisions: list[Decision]
    rows: list[int]
    """For each decision, the 0-based position of its record in the input."""
    errors: list[RecordError]
    """One per broken rule of each refused record; ``record`` is its 0-based position in the
    input (callers renumber it for their own requests)."""
    shadow: dict[str, ShadowDecision] = field(default_factory=dict)
    """What the shadow version decided, by the id of the decision it shadows."""


def record_batch(
    app: LoadedApp,
    batch: DecisionBatch,
    records: Sequence[Mapping[str, Any]],
    *,
    now: datetime,
    lineage: Sequence[dict[str, Any] | None] | None = None,
    decision_id: Callable[[str], str] | None = None,
    row_id: Callable[[int], str] | None = None,
    row_offset: int = 0,
) -> Recorded:
    """The decisions of ``batch`` (decided from ``records``, in order) as store records, with
    each record's ``lineage`` (where its inputs came from; ``None`` when all came with it), and
    its rejects as :class:`RecordError` without the contract's ``row N (id=…):`` prefix (the
    error names the record itself). ``decision_id`` gives a decision's id from its entity id
    (a run's: the same entity, the same id), ``row_id`` from its row number instead (a file's
    run: the same row, the same id); without either each id is new. ``row_offset`` is the
    ``row_offset`` the batch was decided with: ``records`` (and ``lineage``) hold the chunk's
    records from position 0."""
    spec = app.spec
    name = app.name
    inputs_of = _inputs_getter([spec.inputs.id, *spec.inputs.fields])
    columns = batch.decisions.to_dict(as_series=False)
    classes = columns.get("predicted_class") or [None] * len(columns["row"])
    statuses: dict[str, DecisionStatus] = {}
    decisions: list[Decision] = []
    rows: list[int] = []
    for (
        row, entity, version, model_hash, score, action, rule, review, control, status, reasons,
        reasons_text, predicted_class,
    ) in zip(
        columns["row"], columns["entity_id"], columns["model_version"], columns["model_hash"],
        columns["score"], columns["action"], columns["rule"], columns["review"],
        columns["control"], columns["status"], columns["reasons"], columns["reasons_text"],
        classes, strict=True,
    ):  # fmt: skip
        position = row - 1 - row_offset
        if row_id is not None:
            made = row_id(row)
        else:
            made = new_id() if decision_id is None else decision_id(entity)
        state = statuses.get(status)
        if state is None:
            state = statuses[status] = DecisionStatus(status)
        decisions.append(
            Decision(
                id=made,
                app=name,
                entity_id=entity,
                model_version=version,  # a canary's rows differ from the champion's
                model_hash=model_hash,
                inputs=inputs_of(records[position]),
                score=score,
                action=action,
                rule=rule,
                review=review,
                control=control,
                status=state,
                reasons=reasons,
                reasons_text=reasons_text,
                created_at=now,
                predicted_class=predicted_class,
                lineage=None if lineage is None else lineage[position],
            )
        )
        rows.append(position)
    shadow = {}
    if batch.shadow is not None:
        ids, entities = [d.id for d in decisions], [d.entity_id for d in decisions]
        shadow = _shadow(batch.shadow, ids, entities, columns["row"], app.name, now)
    return Recorded(decisions, rows, rejected(batch, id_field=spec.inputs.id), shadow)


@dataclass(frozen=True)
class RecordedRows:
    """A decided batch as the store's columns (:class:`DecisionRows`), for the batch paths
    that only write what they decide (a file's chunk): no :class:`Decision` per row."""

    rows: DecisionRows
    positions: list[int]
    """For each row, the 0-based position of its record in the input."""
    shadow: list[ShadowDecision]


def record_rows(
    app: LoadedApp,
    batch: DecisionBatch,
    inputs: Sequence[dict[str, Any]],
    *,
    created_at: datetime | Sequence[datetime],
    row_id: Callable[[int], str],
    lineage: Callable[[list[int]], list[str | None]] | None = None,
    row_offset: int = 0,
) -> RecordedRows:
    """:func:`record_batch` of a file's chunk, kept as columns: the same decisions, as the store
    writes them. ``inputs`` holds the inputs of the batch's valid records, in their order
    (each the record's values of the contract's id and fields, those it has);
    ``created_at`` is one time for all or one per input position; ``row_id`` gives a
    decision's id from its row number; ``lineage`` the JSON text of each row's lineage from
    the row numbers."""
    columns = batch.decisions.to_dict(as_series=False)
    numbers: list[int] = columns["row"]
    size = len(numbers)
    positions = [row - 1 - row_offset for row in numbers]
    if len(inputs) != size:
        raise AssertionError("the batch decided other records than the inputs given")
    if isinstance(created_at, datetime):
        times = [created_at] * size
    else:
        times = [created_at[p] for p in positions]
    ids = list(map(row_id, numbers))
    rows = DecisionRows(
        app=app.name,
        ids=ids,
        entity_ids=columns["entity_id"],
        model_versions=columns["model_version"],
        model_hashes=columns["model_hash"],
        inputs=list(inputs),
        scores=columns["score"],
        predicted_classes=columns.get("predicted_class") or [None] * size,
        actions=columns["action"],
        rules=columns["rule"],
        reviews=columns["review"],
        controls=columns["control"],
        statuses=columns["status"],
        reasons=columns["reasons"],
        reasons_texts=columns["reasons_text"],
        created_at=times,
        lineage=None if lineage is None else lineage(numbers),
    )
    shadow: list[ShadowDecision] = []
    if batch.shadow is not None:
        moment = times[0] if times else datetime.now()
        found = _shadow(batch.shadow, ids, rows.entity_ids, numbers, app.name, moment)
        shadow = list(found.values())
    return RecordedRows(rows, positions, shadow)


def _inputs_getter(names: list[str]) -> Callable[[Mapping[str, Any]], dict[str, Any]]:
    """A record's inputs: its values of ``names``, in that order, those it has. One
    ``itemgetter`` takes them all from a record that has every name (a file's, a table's);
    a record without some (optional fields left out of a request) takes those it has."""
    take = itemgetter(*names)
    several = len(names) > 1

    def inputs(record: Mapping[str, Any]) -> dict[str, Any]:
        try:
            values = take(record)
        except KeyError:
            return {k: record[k] for k in names if k in record}
        return dict(zip(names, values, strict=True)) if several else {names[0]: values}

    return inputs


def _shadow(
    frame: pl.DataFrame,
    ids: list[str],
    entities: list[str],
    rows: list[int],
    app: str,
    now: datetime,
) -> dict[str, ShadowDecision]:
    """The shadow's rows, each tied to the decision (``ids``, ``entities``) of the same input
    row (``rows``)."""
    columns = frame.to_dict(as_series=False)
    if columns["row"] != rows:
        raise AssertionError("the shadow decided other rows than the champion")
    classes = columns.get("predicted_class")
    return {
        made: ShadowDecision(
            decision_id=made,
            app=app,
            entity_id=entities[i],
            model_version=columns["model_version"][i],
            model_hash=columns["model_hash"][i],
            score=columns["score"][i],
            action=columns["action"][i],
            rule=columns["rule"][i],
            review=columns["review"][i],
            control=columns["control"][i],
            reasons=columns["reasons"][i],
            created_at=now,
            predicted_class=classes[i] if classes is not None else None,
        )
        for i, made in enumerate(ids)
    }


def rejected(batch: DecisionBatch, *, id_field: str) -> list[RecordError]:
    """The rejects of ``batch`` as :class:`RecordError` (``record``: 0-based input position)."""
    if not batch.rejects.height:
        return []
    rejects = batch.rejects.to_dict(as_series=False)
    errors: list[RecordError] = []
    for row, entity, name, rule, message in zip(
        rejects["row"],
        rejects["entity_id"],
        rejects["field"],
        rejects["rule"],
        rejects["message"],
        strict=True,
    ):
        prefix = f"row {row} ({id_field}={entity}): " if entity is not None else f"row {row}: "
        errors.append(RecordError(row - 1, entity, name, rule, message.removeprefix(prefix)))
    return errors
