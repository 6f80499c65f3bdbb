"""``doorstep score FILE --record`` and ``doorstep decisions import`` hand the store their
decisions as columns; what they write is exactly what the per-row path (a
:class:`~doorstep.types.Decision` per row through ``record_batch``) wrote for the same chunks:
every column of every decision, its deliveries, the audit digests, a chain that verifies."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import polars as pl
import pytest
import sqlalchemy as sa

from doorstep.core.contract import ROW_COLUMN, validate_batch
from doorstep.services.apps.loading import LoadedApp, load_app
from doorstep.services.decide.backfill import as_backfilled
from doorstep.services.decide.batch import decide_validated
from doorstep.services.decide.recording import record_batch
from doorstep.services.deliver.actions import deliveries_for
from doorstep.services.runs.file_runs import file_decision_ids, record_file
from doorstep.services.runs.imports import ImportColumns, import_file, imported_decision_id
from doorstep.store import RecordRequest, Store, open_store
from doorstep.store.tables import audit_events, decisions, deliveries
from doorstep.types import Decision

ROWS = 300
CHUNK = 64
START = datetime(2026, 1, 1, tzinfo=UTC)


@pytest.fixture
def app(churn_app: Path) -> LoadedApp:
    return load_app(churn_app / "doorstep.yaml")


@pytest.fixture
def some(churn_app: Path) -> Path:
    """Customers with a few rows the contract refuses (so decided rows skip positions), a
    decision time each and a key."""
    frame = pl.read_parquet(churn_app / "customers.parquet").head(ROWS)
    frame = frame.with_columns(
        pl.when(pl.int_range(pl.len()) % 23 == 5)
        .then(-3)
        .otherwise(pl.col("tenure_months"))
        .alias("tenure_months"),
        pl.Series("decided_at", [START + timedelta(minutes=37 * i) for i in range(ROWS)]),
    )
    path = churn_app / "some.parquet"
    frame.write_parquet(path)
    return path


def written(store: Store) -> dict[str, Any]:
    """Every decision (all columns but the event's seq, JSON as text), every delivery's
    decision, action, connector, key and state, and the digests of the decision events."""
    json_columns = ("inputs", "reasons", "lineage")
    columns = [
        sa.cast(c, sa.Text) if c.name in json_columns else c
        for c in decisions.c
        if c.name != "audit_seq"
    ]
    with store.engine.connect() as conn:
        rows = [tuple(r) for r in conn.execute(sa.select(*columns).order_by(decisions.c.id))]
        sent = sorted(
            tuple(r)
            for r in conn.execute(
                sa.select(
                    deliveries.c.decision_id,
                    deliveries.c.action,
                    deliveries.c.connector,
                    deliveries.c.key,
                    deliveries.c.state,
                )
            )
        )
        events = [
            (r.subject, r.payload)
            for r in conn.execute(
                sa.select(audit_events.c.subject, audit_events.c.payload)
                .where(audit_events.c.kind == "decisions.recorded")
                .order_by(audit_events.c.seq)
            )
        ]
    return {"decisions": rows, "deliveries": sent, "events": events}


def chunks(app: LoadedApp, path: Path) -> Iterator[tuple[int, pl.DataFrame, Any, list[Any]]]:
    """The file's chunks as a run reads them: offset, chunk, decided batch, valid records."""
    frame = pl.read_parquet(path)
    spec = app.spec
    names = [spec.inputs.id, *spec.inputs.fields]
    for offset in range(0, frame.height, CHUNK):
        chunk = frame.slice(offset, CHUNK)
        checked = validate_batch(chunk, spec.inputs, row_offset=offset)
        batch = decide_validated(app, checked, explain=True)
        records: list[Any] = [None] * chunk.height
        for row, record in zip(
            checked.valid[ROW_COLUMN].to_list(),
            checked.valid.select([n for n in names if n in checked.valid.columns]).to_dicts(),
            strict=True,
        ):
            records[row - 1 - offset] = record
        yield offset, chunk, batch, records


def test_a_file_run_writes_what_the_per_row_path_wrote(
    app: LoadedApp, some: Path, store_url: str, other_url: str
) -> None:
    with open_store(store_url) as store:
        run = record_file(
            app, store, some, input_format=None, deliver=True, explain=True, chunk_rows=CHUNK
        )
        assert run.decided == ROWS - len(range(5, ROWS, 23)) and run.deliveries > 0
        new = written(store)
        stored = {d[0]: d for d in new["decisions"]}
        assert store.verify_audit().ok
        times = {d.id: d.created_at for d in map(store.get_decision, stored) if d is not None}
    ids = file_decision_ids(run)
    carried = list(app.spec.inputs.fields)
    with open_store(other_url) as reference:
        for offset, chunk, batch, records in chunks(app, some):
            first = ids(batch.decisions["row"][0])
            lineage = [
                {
                    "request": carried,
                    "sources": {},
                    "file": {"name": some.name, "row": offset + i + 1},
                }
                for i in range(chunk.height)
            ]
            made = record_batch(
                app, batch, records, now=times[first], lineage=lineage, row_id=ids,
                row_offset=offset,
            ).decisions  # fmt: skip
            request = RecordRequest(made, app=app.name, deliveries=deliveries_for(app, made))
            reference.record([request], actor="doorstep score")
        old = written(reference)
    assert new["decisions"] == old["decisions"]
    assert new["events"] == old["events"]
    assert new["deliveries"] == old["deliveries"]


def imported_ids(
    app: str, offset: int, keys: list[str], at: list[datetime]
) -> Callable[[int], str]:
    """The ids an import gives the rows of a chunk (from each row's key and time)."""
    return lambda row: imported_decision_id(app, keys[row - 1 - offset], at[row - 1 - offset])


def test_an_import_writes_what_the_per_row_path_wrote(
    app: LoadedApp, some: Path, store_url: str, other_url: str
) -> None:
    columns = ImportColumns(decided_at="decided_at", key="customer_id")
    with open_store(store_url) as store:
        run = import_file(
            app, store, some, columns, input_format=None, explain=True, chunk_rows=CHUNK
        )
        assert run.decided == ROWS - len(range(5, ROWS, 23))
        new = written(store)
        assert store.verify_audit().ok
    carried = list(app.spec.inputs.fields)
    frame = pl.read_parquet(some)
    with open_store(other_url) as reference:
        for offset, chunk, batch, records in chunks(app, some):
            at = [v.replace(tzinfo=UTC) for v in chunk["decided_at"].to_list()]
            keys = chunk["customer_id"].cast(pl.String).to_list()
            lineage = [
                {
                    "request": carried,
                    "sources": {},
                    "file": {"name": some.name, "row": offset + i + 1},
                    "imported": {"run": run.id, "key": keys[i]},
                }
                for i in range(chunk.height)
            ]
            recorded = record_batch(
                app, batch, records, now=datetime.now(UTC), lineage=lineage,
                row_id=imported_ids(app.name, offset, keys, at), row_offset=offset,
            )  # fmt: skip
            made: list[Decision] = [
                as_backfilled(d, at[p], (d.lineage or {})["imported"])
                for d, p in zip(recorded.decisions, recorded.rows, strict=True)
            ]
            reference.record([RecordRequest(made, app=app.name)], actor="doorstep decisions import")
        old = written(reference)
    assert frame.height == ROWS
    assert new["decisions"] == old["decisions"] and new["deliveries"] == old["deliveries"] == []
    assert new["events"] == old["events"]
