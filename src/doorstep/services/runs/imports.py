"""Decisions made earlier, imported from a file with the time they were made
(``doorstep decisions import FILE --decided-at COLUMN``).

Each row is decided again by the app's model and policy from its inputs — the one decision
path — and recorded with the time its ``--decided-at`` column gives instead of now, so that
history (last quarter's decisions, a scenario to replay) lands in the windows it belongs to.

An import is a file run (:mod:`doorstep.services.runs.file_runs`): read a chunk at a time
(constant memory), each chunk committed with the run's checkpoint, resumable with ``doorstep
runs resume``. What sets it apart:

- **Marked imported.** Each decision's lineage holds ``imported`` (the run and the key), so
  every view can tell history from live decisions (see :func:`is_imported`). An import never
  enqueues deliveries, and a decision in the review band is recorded ``decided`` (with
  ``review`` true): history is not put in front of reviewers again.
- **Idempotent by a key.** A decision's id is derived from the app, the row's key (``--key``,
  the contract's id field by default) and its decision time: importing the file again — or an
  overlapping one — records each keyed decision once (the store leaves out ids it holds).
  A key seen twice in one file at the same time is recorded once.
- **Bad rows kept apart.** A row whose time is missing, unreadable or in the future
  (rule ``decided_at``) or whose key is empty (rule ``key_required``) is rejected like a row
  that breaks the contract, naming the row, the field and the rule; the other rows are
  recorded.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import polars as pl

from doorstep.core.contract import REJECT_SCHEMA, validate_batch
from doorstep.engines.files import RecordReader
from doorstep.errors import InputError, RecordError
from doorstep.ids import derived_id
from doorstep.services.apps.loading import LoadedApp
from doorstep.services.decide.backfill import is_imported
from doorstep.services.decide.batch import DecisionBatch, decide_recorded, decide_validated
from doorstep.services.decide.recording import record_rows
from doorstep.services.decide.rejects import frame_rejects
from doorstep.services.runs.columns import FileLineage, decided_inputs
from doorstep.services.runs.file_runs import ChunkDecider, FileOrigin, run_file
from doorstep.services.runs.files import unreadable_rows
from doorstep.services.runs.recorded import RecordedColumns, check_recordable, recorded_values
from doorstep.services.runs.sources import BY_HAND_LEASE_SECONDS, MAX_CHUNK_ROWS, RunOptions
from doorstep.store.protocols import RecordRequest, RunStore
from doorstep.store.runs import MAX_RUN_ERRORS, ChunkProgress, RunInfo
from doorstep.types import DecisionStatus

__all__ = [
    "IMPORT_RUNNER",
    "ImportColumns",
    "import_decider",
    "import_file",
    "recorded_columns",
    "imported_decision_id",
    "is_imported",
]

IMPORT_RUNNER = "doorstep decisions import"


@dataclass(frozen=True)
class ImportColumns:
    """The file's columns an import reads besides the inputs: the decision time, the key that
    names a decision (the contract's id field when not given) and, for decisions imported as
    they were made, the recorded score and action (:mod:`doorstep.services.runs.recorded`)."""

    decided_at: str
    key: str
    recorded: RecordedColumns | None = None

    def stored(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_stored(cls, kept: dict[str, Any]) -> ImportColumns:
        """The columns of a run's stored options (as :meth:`stored` wrote them)."""
        recorded = kept.get("recorded")
        return cls(
            str(kept["decided_at"]),
            str(kept["key"]),
            RecordedColumns(**recorded) if recorded else None,
        )


def imported_decision_id(app: str, key: str, decided_at: datetime) -> str:
    """The id of the decision an import records for ``key`` made at ``decided_at``: a UUIDv7
    of that time (ids sort by decision time), the same for the same app, key and time."""
    return derived_id(int(decided_at.timestamp() * 1000), f"{app}\nimported\n{key}")


def recorded_columns(
    path: Path, input_format: str | None, as_recorded: bool, score: str | None, action: str | None
) -> RecordedColumns | None:
    """The recorded columns an import's options name: ``--score`` (default ``score``) and
    ``--action`` (default: the file's ``action`` column when it has one), or ``None`` when the
    decisions are to be decided again (none of ``--as-recorded``, ``--score``, ``--action``)."""
    if not (as_recorded or score or action):
        return None
    if action is None:
        first = next(iter(RecordReader(path, chunk_rows=1, fmt=input_format)), None)
        action = "action" if first is not None and "action" in first.columns else None
    return RecordedColumns(score or "score", action)


def import_file(
    app: LoadedApp,
    store: RunStore,
    path: Path,
    columns: ImportColumns,
    *,
    input_format: str | None,
    explain: bool | None,
    chunk_rows: int,
    rejects: Path | None = None,
    on_total: Callable[[int | None], None] | None = None,
    on_progress: Callable[[int], None] | None = None,
) -> RunInfo:
    """Import the decisions of the file at ``path`` as a run by hand (``source``
    ``import:NAME``): each row decided again and recorded at its ``columns.decided_at``."""
    origin = FileOrigin.of(path, input_format, rejects)
    if columns.recorded is not None:
        check_recordable(app)
    reader = RecordReader(path, chunk_rows=1, fmt=input_format)
    _check_columns(reader, path, columns)
    options = RunOptions(
        chunk_rows=min(chunk_rows, MAX_CHUNK_ROWS),
        deliver=False,
        explain=explain,
        lease_seconds=BY_HAND_LEASE_SECONDS,
        actor=IMPORT_RUNNER,
    )
    lease = store.start_run(
        app.name,
        f"import:{path.name}"[:200],
        runner=IMPORT_RUNNER,
        lease_seconds=BY_HAND_LEASE_SECONDS,
        options={**options.stored(), "file": origin.stored(), "import": columns.stored()},
    )
    assert lease is not None  # runs by hand have no slot to collide on
    decide = import_decider(app, columns, lease.run.id)
    return run_file(
        app,
        store,
        lease,
        options,
        origin,
        on_total=on_total,
        on_progress=on_progress,
        decide=decide,
    )


def _check_columns(reader: RecordReader, path: Path, columns: ImportColumns) -> None:
    first = next(iter(reader), None)
    if first is None:
        return
    named = [("--decided-at", columns.decided_at), ("--key", columns.key)]
    if columns.recorded is not None:
        named.append(("--score", columns.recorded.score))
        if columns.recorded.action is not None:
            named.append(("--action", columns.recorded.action))
    for option, name in named:
        if name not in first.columns:
            raise InputError(
                f"{path.name}: {option} names the column {name!r}, which the file does not "
                f"have (its columns: {', '.join(first.columns)})"
            )


def import_decider(app: LoadedApp, columns: ImportColumns, run_id: str) -> ChunkDecider:
    """How an import run decides a chunk of its file (for :func:`run_file`)."""

    def decide(
        name: str, reader: RecordReader, chunk: pl.DataFrame, offset: int, options: RunOptions
    ) -> tuple[RecordRequest, ChunkProgress, pl.DataFrame]:
        return _decide_imported(app, columns, run_id, name, reader, chunk, offset, options)

    return decide


def _decide_imported(
    app: LoadedApp,
    columns: ImportColumns,
    run_id: str,
    name: str,
    reader: RecordReader,
    chunk: pl.DataFrame,
    offset: int,
    options: RunOptions,
) -> tuple[RecordRequest, ChunkProgress, pl.DataFrame]:
    spec = app.spec
    now = datetime.now(UTC)
    size = chunk.height
    bad = unreadable_rows(reader, offset, size)
    mark = {"recorded": _recorded_mark(columns.recorded)} if columns.recorded is not None else {}
    times, raw_times = _times(chunk, columns.decided_at)
    keys = _texts(chunk, columns.key)
    entities = _texts(chunk, spec.inputs.id)
    own: list[tuple[int, str | None, str, str, str | None, str]] = []
    ids: dict[int, str] = {}
    seen: set[str] = set()
    skipped = 0
    for position in range(size):
        row = offset + position + 1
        at, key, entity = times[position], keys[position], entities[position]
        where = f"row {row} ({spec.inputs.id}={entity})" if entity is not None else f"row {row}"
        raw = raw_times[position]
        if at is None:
            told = "is missing" if raw is None else f"{raw!r} is not a time"
            own.append(
                (
                    row,
                    entity,
                    columns.decided_at,
                    "decided_at",
                    raw,
                    _time_hint(where, columns.decided_at, told),
                )
            )
        elif at > now:
            own.append(
                (
                    row,
                    entity,
                    columns.decided_at,
                    "decided_at",
                    raw,
                    f"{where}: {columns.decided_at}: {raw!r} is in the future",
                )
            )
        if key is None:
            own.append(
                (
                    row,
                    entity,
                    columns.key,
                    "key_required",
                    None,
                    f"{where}: {columns.key}: the key is missing",
                )
            )
        if at is None or at > now or key is None:
            continue
        made = imported_decision_id(app.name, key, at)
        if made in seen:  # the same decision twice in one chunk: recorded once
            skipped += 1
            continue
        seen.add(made)
        ids[row] = made
    checked = validate_batch(chunk.drop("__bad__", strict=False), spec.inputs, row_offset=offset)
    if columns.recorded is None:
        batch = decide_validated(app, checked, explain=options.explain)
    else:
        given = recorded_values(app, chunk, checked.valid, columns.recorded, offset)
        kept_valid = checked.valid.filter(given.keep)
        checked = dataclasses.replace(checked, valid=kept_valid)
        batch = DecisionBatch(
            decide_recorded(app, kept_valid, given.scores, given.actions), checked.rejects
        )
        own.extend(given.rejects)
    carried = [n for n in spec.inputs.fields if n in chunk.columns]
    decided = record_rows(
        app,
        batch,
        decided_inputs(app, checked.valid, batch),
        created_at=[now if at is None else at for at in times],
        row_id=lambda row: ids.get(row, ""),
        lineage=FileLineage(
            {"request": carried, "sources": {}},
            name,
            run=run_id,
            keys={offset + position + 1: key for position, key in enumerate(keys)},
            mark=mark,
        ),
        row_offset=offset,
    ).rows
    decided = decided.take([i for i, made in enumerate(decided.ids) if made])
    statuses = [  # history is not put in front of reviewers again
        DecisionStatus.DECIDED.value if s == DecisionStatus.PENDING_REVIEW else s
        for s in decided.statuses
    ]
    decided = dataclasses.replace(decided, statuses=statuses)
    rejects = batch.rejects
    if own:
        rejects = pl.concat([rejects, pl.DataFrame(own, schema=REJECT_SCHEMA, orient="row")])
    if bad.height:
        rejects = pl.concat([bad, rejects.filter(~pl.col("row").is_in(bad["row"]))])
    rejects = rejects.sort("row", maintain_order=True)
    errors = [
        RecordError(row, entity, field, rule, message).as_dict()
        for row, entity, field, rule, message in rejects.head(MAX_RUN_ERRORS)
        .select("row", "entity_id", "field", "rule", "message")
        .iter_rows()
    ]
    progress = ChunkProgress(
        checkpoint=str(offset + size),
        rows=size - skipped,
        decided=len(decided),
        rejected=rejects["row"].n_unique(),
        deliveries=0,
        errors=errors,
    )
    kept = [  # each in the window of its decision time, when the row had a readable one
        dataclasses.replace(r, at=_kept_time(times, r.row, offset, now))
        for r in frame_rejects(app, rejects, source="import", at=now, run_id=run_id)
    ]
    return RecordRequest([], app=app.name, rejects=kept, rows=decided), progress, rejects


def _recorded_mark(columns: RecordedColumns) -> dict[str, str]:
    """What an imported decision took from the file as recorded: which column gave what."""
    mark = {"score": columns.score}
    if columns.action is not None:
        mark["action"] = columns.action
    return mark


def _kept_time(
    times: list[datetime | None], row: int | None, offset: int, now: datetime
) -> datetime:
    at = times[row - 1 - offset] if row is not None else None
    return at if at is not None and at <= now else now


def _time_hint(where: str, column: str, told: str) -> str:
    return f"{where}: {column}: {told} (ISO 8601, e.g. 2026-01-31T09:30:00Z)"


def _texts(chunk: pl.DataFrame, column: str) -> list[str | None]:
    if column not in chunk.columns:
        return [None] * chunk.height
    values = chunk[column].cast(pl.String, strict=False).to_list()
    return [v if v is not None and v.strip() else None for v in values]


def _times(chunk: pl.DataFrame, column: str) -> tuple[list[datetime | None], list[str | None]]:
    """The decision times of ``column`` (UTC; a time without a zone is read as UTC) and their
    text as given, for the rejects; ``None`` where missing or unreadable."""
    if column not in chunk.columns:
        return [None] * chunk.height, [None] * chunk.height
    series = chunk[column]
    raw = series.cast(pl.String, strict=False).to_list()
    if isinstance(series.dtype, pl.Datetime | pl.Date):
        return [_utc(v) for v in series.to_list()], raw
    return [_parse(v) for v in raw], raw


def _parse(text: str | None) -> datetime | None:
    if text is None:
        return None
    try:
        return _utc(datetime.fromisoformat(text.strip()))
    except ValueError:
        return None


def _utc(value: datetime | date | None) -> datetime | None:
    if value is None:
        return None
    if not isinstance(value, datetime):
        value = datetime(value.year, value.month, value.day)
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)
