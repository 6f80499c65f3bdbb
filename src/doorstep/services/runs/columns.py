"""What a file's run records beside its decisions' columns, built column-wise: the inputs of
the decided rows, their lineage as the JSON text the store keeps, and the deliveries of the
rows that deliver (:func:`~doorstep.services.decide.recording.record_rows`)."""

from __future__ import annotations

from typing import Any

import polars as pl

from doorstep.core.contract import ROW_COLUMN
from doorstep.services.apps.loading import LoadedApp
from doorstep.services.decide.batch import DecisionBatch
from doorstep.services.deliver.actions import NO_ACTION, deliveries_for
from doorstep.store.canonical import dump_json
from doorstep.store.decision_rows import DecisionRows
from doorstep.store.protocols import DeliveryRecord

__all__ = ["decided_inputs", "FileLineage", "row_deliveries"]


def decided_inputs(
    app: LoadedApp, valid: pl.DataFrame, batch: DecisionBatch
) -> list[dict[str, Any]]:
    """The inputs of each decided row of ``batch`` (in its order): the row's values of the
    contract's id and fields, those the file has, from the valid records ``valid``."""
    names = [app.spec.inputs.id, *app.spec.inputs.fields]
    present = [n for n in names if n in valid.columns]
    inputs = valid.select(present).to_dicts()
    rows = valid[ROW_COLUMN].to_list()
    decided = batch.decisions["row"].to_list()
    if decided == rows:
        return inputs
    at = {row: i for i, row in enumerate(rows)}
    return [inputs[at[row]] for row in decided]


class FileLineage:
    """The lineage of a file's rows as stored JSON text: ``base`` (``request``, ``sources``),
    then ``file`` (the file's ``name`` and the row number), then for an import ``imported``
    (the run, the row's key and ``mark``), with the bytes that :func:`dump_json` gives the
    whole dictionary, built from a template made once."""

    def __init__(
        self,
        base: dict[str, Any],
        name: str,
        *,
        run: str | None = None,
        keys: dict[int, str | None] | None = None,
        mark: dict[str, Any] | None = None,
    ) -> None:
        whole = dump_json({**base, "file": {"name": name, "row": 0}})
        if not whole.endswith('"row":0}}'):
            raise AssertionError(f"unexpected lineage template {whole!r}")
        self.head = whole[: -len("0}}")]
        self.keys = keys
        self.middle = self.tail = ""
        if keys is not None:
            self.middle = '},"imported":{"run":' + dump_json(run) + ',"key":'
            self.tail = ("," + dump_json(mark)[1:-1] if mark else "") + "}}"

    def __call__(self, numbers: list[int]) -> list[str | None]:
        head = self.head
        if self.keys is None:
            return [f"{head}{row}}}}}" for row in numbers]
        keys, middle, tail = self.keys, self.middle, self.tail
        return [f"{head}{row}{middle}{dump_json(keys[row])}{tail}" for row in numbers]


def row_deliveries(app: LoadedApp, rows: DecisionRows) -> list[DeliveryRecord]:
    """The outbox rows of ``rows``: :func:`deliveries_for` of the rows that may deliver (an
    action other than ``none``, outside the control group), each made a decision alone."""
    actions = app.spec.actions
    wanted = {
        name for name, declared in actions.items() if name != NO_ACTION and declared.connector
    }
    if not wanted:
        return []
    candidates = [
        i
        for i, (action, control) in enumerate(zip(rows.actions, rows.controls, strict=True))
        if action in wanted and not control
    ]
    return deliveries_for(app, [rows.decision(i) for i in candidates])
