"""A record file decided into the store as a run (``doorstep score FILE --record``).

The file is read a chunk at a time (constant memory) through the one decision path; each
chunk's decisions, with their reasons and lineage, their deliveries (when the run delivers) and
the run's checkpoint — **the number of rows of the file done** — are committed in one
transaction (:func:`~doorstep.services.runs.sources.drive_run`). A run that failed or whose
runner died resumes after its checkpoint (``doorstep runs resume``), reading the same file.

A file run's decision ids are derived from the run and the **row number** (1-based, as in the
decisions and rejects files), not the entity id: a file may rightly hold one entity twice (two
applications of one customer, a day's events), and each row is a decision of its own. A row
decided again in the same run — a chunk recorded twice — gets the id it had, so the store keeps
one decision and its deliveries keep their idempotency key. Row numbers only mean the same rows
in the same file: the run keeps the file's size and modification time, and a resume refuses a
file that changed.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import polars as pl

from doorstep.core.contract import REJECT_SCHEMA, validate_batch
from doorstep.engines.files import RecordReader
from doorstep.errors import DoorstepError, InputError, RecordError
from doorstep.ids import sequenced_ids
from doorstep.services.apps.loading import LoadedApp
from doorstep.services.decide.batch import decide_validated
from doorstep.services.decide.recording import record_rows
from doorstep.services.decide.rejects import frame_rejects
from doorstep.services.runs.columns import FileLineage, decided_inputs, row_deliveries
from doorstep.services.runs.files import unreadable_rows
from doorstep.services.runs.sources import (
    BY_HAND_LEASE_SECONDS,
    MAX_CHUNK_ROWS,
    RunOptions,
    drive_run,
)
from doorstep.store.protocols import RecordRequest, RunStore
from doorstep.store.runs import MAX_RUN_ERRORS, ChunkProgress, RunInfo, RunLease

__all__ = [
    "FILE_SOURCE_PREFIX",
    "ChunkDecider",
    "FileOrigin",
    "RejectsFile",
    "file_decision_ids",
    "record_file",
    "run_file",
]

_Chunk = tuple[RecordRequest, ChunkProgress]

ChunkDecider = Callable[
    [str, RecordReader, pl.DataFrame, int, RunOptions],
    tuple[RecordRequest, ChunkProgress, pl.DataFrame],
]
"""How a file run decides one chunk: from the file's name, its reader, the chunk, the row offset
of its first row and the run's options, the store's request with the run's progress and the
chunk's rejects (imports decide their own way: :mod:`doorstep.services.runs.imports`)."""

FILE_SOURCE_PREFIX = "file:"
"""A file run's ``source``: ``file:`` and the file's name (``file:customers.parquet``)."""


@dataclass(frozen=True)
class FileOrigin:
    """The file a run reads, as kept with the run: where it is, its format, and what it was
    (size and modification time) so that a resume reads the same rows."""

    path: str
    format: str | None
    size: int
    mtime_ns: int
    rejects: str | None = None
    """The rejects file the run writes (``--rejects``), if any."""

    @classmethod
    def of(cls, path: Path, input_format: str | None, rejects: Path | None = None) -> FileOrigin:
        if not path.is_file():
            raise InputError(f"input file {path} does not exist")
        stat = path.stat()
        kept = None if rejects is None else str(rejects.resolve())
        return cls(str(path.resolve()), input_format, stat.st_size, stat.st_mtime_ns, kept)

    def stored(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_run(cls, run: RunInfo) -> FileOrigin:
        kept = run.options.get("file")
        if not isinstance(kept, dict):
            raise InputError(f"Run {run.id} reads {run.source!r} but kept no file to resume from")
        return cls(
            str(kept["path"]),
            kept.get("format"),
            int(kept["size"]),
            int(kept["mtime_ns"]),
            kept.get("rejects"),
        )

    def check_unchanged(self, run_id: str, done: int) -> None:
        """Refuse a file that is gone or changed since the run started: its row numbers would
        name other records (decided under ids of rows they are not)."""
        path = Path(self.path)
        if not path.is_file():
            raise InputError(
                f"Run {run_id} reads the file {self.path}, which is gone: put it back where it "
                "was to resume the run"
            )
        stat = path.stat()
        if (stat.st_size, stat.st_mtime_ns) != (self.size, self.mtime_ns):
            raise InputError(
                f"Run {run_id} reads the file {self.path}, which changed since the run started "
                f"(size {self.size:,} → {stat.st_size:,} bytes, or its modification time): a "
                "resumed run must read the same rows; score the new file as a new run"
            )
        if self.rejects is not None and done and not Path(self.rejects).is_file():
            raise InputError(
                f"Run {run_id} writes the rejects file {self.rejects}, which is gone: put it "
                "back where it was to resume the run (it holds the rejects of the rows done)"
            )


def file_decision_ids(run: RunInfo) -> Callable[[int], str]:
    """The id of the decision ``run`` makes for the file's row ``row`` (1-based): derived from
    the run and the row number, so a row decided again in the same run keeps its id."""
    name = f"{run.app}\nrun\n{run.id}\nrows\n"
    ms = int(run.started_at.timestamp() * 1000)
    return sequenced_ids(ms, name)


def record_file(
    app: LoadedApp,
    store: RunStore,
    path: Path,
    *,
    input_format: str | None,
    deliver: bool,
    explain: bool | None,
    chunk_rows: int,
    rejects: Path | None = None,
    on_total: Callable[[int | None], None] | None = None,
    on_progress: Callable[[int], None] | None = None,
) -> RunInfo:
    """Decide every record of the file at ``path`` and record the decisions in the store as a
    run by hand (``source`` ``file:NAME``); ``deliver`` enqueues their actions, ``rejects``
    names a CSV file for the rejected rows. ``chunk_rows`` is capped at
    :data:`~doorstep.services.runs.sources.MAX_CHUNK_ROWS`."""
    origin = FileOrigin.of(path, input_format, rejects)
    RecordReader(path, fmt=input_format)  # an unreadable file fails before a run is started
    options = RunOptions(
        chunk_rows=min(chunk_rows, MAX_CHUNK_ROWS),
        deliver=deliver,
        explain=explain,
        lease_seconds=BY_HAND_LEASE_SECONDS,
        actor="doorstep score",
    )
    lease = store.start_run(
        app.name,
        f"{FILE_SOURCE_PREFIX}{path.name}"[:200],
        runner="doorstep score",
        lease_seconds=BY_HAND_LEASE_SECONDS,
        options={**options.stored(), "file": origin.stored()},
    )
    assert lease is not None  # runs by hand have no slot to collide on
    return run_file(app, store, lease, options, origin, on_total=on_total, on_progress=on_progress)


def run_file(
    app: LoadedApp,
    store: RunStore,
    lease: RunLease,
    options: RunOptions,
    origin: FileOrigin,
    *,
    on_total: Callable[[int | None], None] | None = None,
    on_progress: Callable[[int], None] | None = None,
    decide: ChunkDecider | None = None,
) -> RunInfo:
    """Decide the rows of ``origin`` after ``lease.run.checkpoint`` (rows done) and finish the
    run; a fresh run and a resumed one go through here. ``decide`` decides a chunk (by default
    as ``doorstep score --record`` does)."""
    done = int(lease.run.checkpoint or 0)
    try:
        reader = RecordReader(Path(origin.path), chunk_rows=options.chunk_rows, fmt=origin.format)
        rejects = None if origin.rejects is None else RejectsFile(Path(origin.rejects), done)
    except (DoorstepError, OSError, pl.exceptions.PolarsError) as error:
        # the run is not left held until its lease expires
        text = error.message if isinstance(error, DoorstepError) else f"{error!r}"
        store.finish_run(lease, "failed", text)
        raise
    if on_total is not None:
        on_total(reader.total_rows)
    if on_progress is not None and done:
        on_progress(done)
    if decide is None:
        ids = file_decision_ids(lease.run)
        run_id = lease.run.id

        def decide(
            name: str, reader: RecordReader, chunk: pl.DataFrame, offset: int, options: RunOptions
        ) -> tuple[RecordRequest, ChunkProgress, pl.DataFrame]:
            return _decide_rows(app, name, reader, chunk, offset, options, ids, run_id)

    name = Path(origin.path).name
    chunks = (
        decide(name, reader, chunk, offset, options) for chunk, offset in _rows_after(reader, done)
    )
    try:
        return drive_run(store, lease, options, _recorded(chunks, rejects, on_progress))
    finally:
        if rejects is not None:
            rejects.close()


def _recorded(
    chunks: Iterator[tuple[RecordRequest, ChunkProgress, pl.DataFrame]],
    rejects: RejectsFile | None,
    on_progress: Callable[[int], None] | None,
) -> Iterator[_Chunk]:
    """``chunks`` for the store; each one's rejects written to ``rejects`` before the chunk is
    committed (a resume cuts what lies past the checkpoint), ``on_progress`` called with its
    rows once it is."""
    for request, progress, rejected in chunks:
        if rejects is not None:
            rejects.write(rejected)
        yield request, progress
        if on_progress is not None:
            on_progress(progress.rows)


class RejectsFile:
    """A run's rejects file (CSV, as ``doorstep score`` writes it), appended chunk by chunk
    ahead of each commit. Opened for a run resumed after row ``done``, it keeps the rows up to
    ``done`` and drops the rest: those of a chunk written but never committed, decided again."""

    def __init__(self, path: Path, done: int) -> None:
        self.path = path
        if done:
            kept = pl.read_csv(path, schema=REJECT_SCHEMA).filter(pl.col("row") <= done)
            part = path.with_name(path.name + ".part")
            with part.open("wb") as fh:
                kept.write_csv(fh)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(part, path)
            self._fh = path.open("ab")
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._fh = path.open("wb")
            pl.DataFrame(schema=REJECT_SCHEMA).write_csv(self._fh)

    def write(self, rejects: pl.DataFrame) -> None:
        if rejects.height:
            rejects.select(list(REJECT_SCHEMA)).write_csv(self._fh, include_header=False)
        self._fh.flush()
        os.fsync(self._fh.fileno())

    def close(self) -> None:
        self._fh.close()


def _rows_after(reader: RecordReader, done: int) -> Iterator[tuple[pl.DataFrame, int]]:
    """The chunks of ``reader`` with the row offset of their first row, from row ``done``."""
    offset = 0
    for chunk in reader:
        end = offset + chunk.height
        if end > done:
            skip = max(0, done - offset)
            yield (chunk.slice(skip) if skip else chunk), offset + skip
        offset = end


def _decide_rows(
    app: LoadedApp,
    name: str,
    reader: RecordReader,
    chunk: pl.DataFrame,
    offset: int,
    options: RunOptions,
    ids: Callable[[int], str],
    run_id: str,
) -> tuple[RecordRequest, ChunkProgress, pl.DataFrame]:
    """One chunk (its first row is the file's row ``offset + 1``) decided, as the store will
    record it with the run's new checkpoint, and its rejects (one row per broken rule)."""
    spec = app.spec
    now = datetime.now(UTC)
    size = chunk.height
    bad = unreadable_rows(reader, offset, size)
    checked = validate_batch(chunk.drop("__bad__", strict=False), spec.inputs, row_offset=offset)
    batch = decide_validated(app, checked, explain=options.explain)
    carried = [n for n in spec.inputs.fields if n in chunk.columns]
    recorded = record_rows(
        app,
        batch,
        decided_inputs(app, checked.valid, batch),
        created_at=now,
        row_id=ids,
        lineage=FileLineage({"request": carried, "sources": {}}, name),
        row_offset=offset,
    )
    rejects = batch.rejects
    if bad.height:  # a line that is no record: one reject saying so, not one per field
        rejects = pl.concat([bad, rejects.filter(~pl.col("row").is_in(bad["row"]))])
    rejects = rejects.sort("row")
    errors = [  # the run keeps its first MAX_RUN_ERRORS
        RecordError(row, entity, field, rule, message).as_dict()
        for row, entity, field, rule, message in rejects.head(MAX_RUN_ERRORS)
        .select("row", "entity_id", "field", "rule", "message")
        .iter_rows()
    ]
    deliveries = row_deliveries(app, recorded.rows) if options.deliver else []
    progress = ChunkProgress(
        checkpoint=str(offset + size),
        rows=size,
        decided=len(recorded.rows),
        rejected=rejects["row"].n_unique(),
        deliveries=len(deliveries),
        errors=errors,
    )
    kept = frame_rejects(app, rejects, source="file", at=now, run_id=run_id)
    request = RecordRequest(
        [], app=app.name, deliveries=deliveries, shadow=recorded.shadow, rejects=kept,
        rows=recorded.rows,
    )  # fmt: skip
    return request, progress, rejects
