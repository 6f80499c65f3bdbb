"""Outcomes: what really happened after decisions, from API bodies and files into the store.

Each outcome names its decision (``decision_id``) or its entity (``entity_id``, or the app's own
id field such as ``customer_id``), gives its label or value (under the spec's
``monitoring.outcome.field``) and when it was observed (``observed_at``, ISO 8601; no offset
means UTC). A bad row gets an error naming its row, field and rule and never stops the good
ones; outcomes that match no decision are kept and counted by reason.

Files (CSV, Parquet, JSON Lines) are read in chunks and recorded chunk by chunk (one
``outcomes.recorded`` audit event each), then one ``outcomes.imported`` event sums the import
up. Importing a file again records nothing new: every row is a duplicate.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

import polars as pl

from doorstep.core.bodies import Unreadable
from doorstep.core.spec.models import Spec
from doorstep.core.suggest import did_you_mean
from doorstep.engines.files import RecordReader, RecordWriter
from doorstep.errors import InputError, RecordError
from doorstep.services.outcomes.rows import OutcomeParser
from doorstep.store.feedback import OutcomesRecorded, OutcomeWrite
from doorstep.store.protocols import AuditStore, OutcomeStore
from doorstep.types import Outcome

__all__ = [
    "IMPORT_KIND",
    "REJECT_SCHEMA",
    "ImportSummary",
    "OutcomeImportStore",
    "default_rejects_path",
    "import_outcomes",
    "record_outcomes",
]


class OutcomeImportStore(OutcomeStore, AuditStore, Protocol):
    """What an outcome file's import writes: outcomes, and one ``outcomes.imported`` event."""


IMPORT_KIND = "outcomes.imported"
REJECT_SCHEMA: dict[str, pl.DataType] = {
    "row": pl.Int64(),
    "entity_id": pl.String(),
    "field": pl.String(),
    "rule": pl.String(),
    "message": pl.String(),
}
"""Columns of an import's rejects file: one row per refused outcome."""
WRITE_ROWS = 5_000
"""Outcomes per store transaction when importing a file."""


def record_outcomes(
    spec: Spec,
    store: OutcomeStore,
    records: Iterable[Any],
    *,
    actor: str,
    source: str = "api",
    first_row: int = 0,
    now: datetime | None = None,
) -> tuple[OutcomesRecorded, list[RecordError]]:
    """Parse and record ``records`` (JSON objects) in one store write. Returns what the store
    did and the errors of refused records, in record order."""
    parser = OutcomeParser(spec, now=now)
    good: list[Outcome] = []
    errors: list[RecordError] = []
    entities: dict[int, str | None] = {}
    for row, raw in enumerate(records, start=first_row):
        if isinstance(raw, Unreadable):
            entity = raw.value_of("entity_id") or raw.value_of(parser.id_field)
            errors.append(RecordError(row, entity, raw.field, "encoding", raw.message))
            continue
        if not isinstance(raw, Mapping):
            errors.append(RecordError(row, None, None, "type", "an outcome must be a JSON object"))
            continue
        parsed = parser.parse(raw, row)
        if isinstance(parsed, list):
            errors.extend(parsed)
        else:
            good.append(parsed)
            entities[row] = parsed.entity_id
    result = OutcomesRecorded()
    if good:
        write = OutcomeWrite(spec.app.name, good, parser.semantics.horizon, source)
        result = store.record_outcomes(write, actor=actor)
    for problem in result.errors:
        name = parser.field if problem.field in ("label", "value") else problem.field
        errors.append(
            RecordError(problem.row, entities.get(problem.row), name, problem.rule, problem.message)
        )
    errors.sort(key=lambda e: (e.record or 0, e.field or ""))
    return result, errors


@dataclass
class ImportSummary:
    """What an import did: every row is recorded (matched or not), a duplicate, or refused."""

    app: str
    source: str
    rows: int = 0
    recorded: OutcomesRecorded = field(default_factory=OutcomesRecorded)
    refused: int = 0
    first_errors: list[RecordError] = field(default_factory=list)
    """The first refused rows (all of them are in the rejects file)."""
    rejects: Path | None = None
    seconds: float = 0.0
    audit_seq: int | None = None
    """The ``outcomes.imported`` event."""

    def as_dict(self) -> dict[str, Any]:
        return {
            "app": self.app,
            "source": self.source,
            "rows": self.rows,
            "recorded": self.recorded.recorded,
            "matched": self.recorded.matched,
            "unmatched": dict(sorted(self.recorded.unmatched.items())),
            "duplicates": self.recorded.duplicates,
            "refused": self.refused,
        }


def default_rejects_path(source: Path) -> Path:
    """``outcomes.csv`` → ``outcomes.rejects.csv`` beside it."""
    return source.with_name(source.name.removesuffix(source.suffix) + ".rejects.csv")


def import_outcomes(
    spec: Spec,
    store: OutcomeImportStore,
    source: Path,
    *,
    actor: str,
    input_format: str | None = None,
    rejects: Path | None = None,
    chunk_rows: int = WRITE_ROWS,
    keep_errors: int = 20,
    now: datetime | None = None,
    on_total: Callable[[int | None], None] | None = None,
    on_progress: Callable[[int], None] | None = None,
) -> ImportSummary:
    """Import an outcome file in chunks; write refused rows to ``rejects`` (by default beside
    the file, only when a row is refused). Rows are numbered from 1, as in the file."""
    started = time.perf_counter()
    parser = OutcomeParser(spec, now=now)
    reader = RecordReader(source, chunk_rows=chunk_rows, fmt=input_format)
    name = f"file:{source.name}"
    summary = ImportSummary(app=spec.app.name, source=name)
    if on_total is not None:
        on_total(reader.total_rows)
    rejects_path = rejects or default_rejects_path(source)
    writer: RecordWriter | None = None
    offset = 0
    seqs: list[int] = []
    try:
        for chunk in reader:
            if offset == 0:
                _check_columns(chunk, parser)
            bad_rows = {row: message for row, message in reader.bad_lines if row > offset}
            good: list[Outcome] = []
            errors: list[RecordError] = []
            for index, raw in enumerate(chunk.iter_rows(named=True), start=offset + 1):
                if index in bad_rows:
                    errors.append(RecordError(index, None, None, "record", bad_rows[index]))
                    continue
                parsed = parser.parse(raw, index)
                if isinstance(parsed, list):
                    errors.extend(parsed)
                else:
                    good.append(parsed)
            if good:
                write = OutcomeWrite(spec.app.name, good, parser.semantics.horizon, name)
                result = store.record_outcomes(write, actor=actor)
                summary.recorded.add(result)
                if result.audit_seq is not None:
                    seqs.append(result.audit_seq)
                entities = {g.row: g.entity_id for g in good}
                for problem in result.errors:
                    field_name = (
                        parser.field if problem.field in ("label", "value") else problem.field
                    )
                    errors.append(
                        RecordError(
                            problem.row,
                            entities.get(problem.row),
                            field_name,
                            problem.rule,
                            problem.message,
                        )
                    )
            if errors:
                errors.sort(key=lambda e: e.record or 0)
                summary.refused += len({e.record for e in errors})
                room = keep_errors - len(summary.first_errors)
                summary.first_errors.extend(errors[: max(room, 0)])
                if writer is None:
                    writer = RecordWriter(rejects_path, REJECT_SCHEMA)
                writer.write(
                    pl.DataFrame(
                        [{**e.as_dict(), "row": e.record} for e in errors], schema=REJECT_SCHEMA
                    )
                )
            summary.rows += chunk.height
            offset += chunk.height
            if on_progress is not None:
                on_progress(chunk.height)
    finally:
        if writer is not None:
            writer.close()
            summary.rejects = rejects_path
    summary.recorded.unmatched_rows.clear()  # counts suffice for a file (see the store)
    payload = {**summary.as_dict(), "events": seqs}
    summary.audit_seq = store.append_audit(IMPORT_KIND, spec.app.name, payload, actor=actor)
    summary.seconds = time.perf_counter() - started
    return summary


def _check_columns(chunk: pl.DataFrame, parser: OutcomeParser) -> None:
    columns = set(chunk.columns)
    keys = {"decision_id", "entity_id", parser.id_field}
    missing = []
    if not columns & keys:
        missing.append(f"'decision_id' or the entity's id ('{parser.id_field}' or 'entity_id')")
    if parser.field not in columns:
        hint = did_you_mean(parser.field, sorted(columns))
        missing.append(
            f"{parser.field!r} (the {parser.semantics.kind}; monitoring.outcome.field){hint}"
        )
    if "observed_at" not in columns:
        missing.append(f"'observed_at'{did_you_mean('observed_at', sorted(columns))}")
    if missing:
        raise InputError(
            "The outcome file lacks the column"
            + ("s " if len(missing) > 1 else " ")
            + " and ".join(missing)
            + f"; its columns are: {', '.join(chunk.columns)}."
        )
