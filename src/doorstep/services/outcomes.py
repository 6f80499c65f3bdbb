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

import math
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import polars as pl

from doorstep.core.outcomes import OutcomeSemantics, canonical_label, outcome_semantics
from doorstep.core.spec.models import Spec
from doorstep.core.suggest import did_you_mean
from doorstep.engines.files import RecordReader, RecordWriter
from doorstep.errors import InputError
from doorstep.store.contract import StoreContract
from doorstep.store.feedback import OutcomeInput, OutcomesRecorded, OutcomeWrite

__all__ = [
    "CLOCK_SKEW",
    "IMPORT_KIND",
    "REJECT_SCHEMA",
    "ImportSummary",
    "OutcomeParser",
    "default_rejects_path",
    "import_outcomes",
    "record_outcomes",
]

IMPORT_KIND = "outcomes.imported"
CLOCK_SKEW = timedelta(minutes=5)
"""Outcomes observed this far in the future (the sender's clock may run ahead) are accepted."""
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


def _error(row: int, entity: str | None, name: str, rule: str, message: str) -> dict[str, Any]:
    return {"record": row, "entity_id": entity, "field": name, "rule": rule, "message": message}


class OutcomeParser:
    """Turns raw records (JSON objects, file rows) into :class:`OutcomeInput` or errors."""

    def __init__(self, spec: Spec, *, now: datetime | None = None) -> None:
        self.spec = spec
        self.semantics: OutcomeSemantics = outcome_semantics(spec)
        self.id_field = spec.inputs.id
        self.now = now or datetime.now(UTC)

    @property
    def field(self) -> str:
        return self.semantics.field

    def parse(self, raw: Mapping[str, Any], row: int) -> OutcomeInput | list[dict[str, Any]]:
        decision_id = _text(raw.get("decision_id"))
        entity_id = _text(raw.get("entity_id"))
        if entity_id is None:
            entity_id = _text(raw.get(self.id_field))
        errors: list[dict[str, Any]] = []
        if decision_id is None and entity_id is None:
            errors.append(
                _error(
                    row,
                    None,
                    "decision_id",
                    "id_required",
                    f"an outcome needs 'decision_id' or the entity's id ('{self.id_field}' or "
                    "'entity_id')",
                )
            )
        for name, key, longest in (
            ("decision_id", decision_id, 36),
            ("entity_id", entity_id, 200),
        ):
            if key is not None and len(key) > longest:
                errors.append(
                    _error(row, entity_id, name, "max_length", f"{name} is longer than {longest}")
                )
        observed = self._observed_at(raw, row, entity_id, errors)
        label, value = self._outcome(raw, row, entity_id, errors)
        if errors:
            return errors
        assert observed is not None
        return OutcomeInput(
            row=row,
            observed_at=observed,
            decision_id=decision_id,
            entity_id=entity_id,
            label=label,
            value=value,
        )

    def _observed_at(
        self,
        raw: Mapping[str, Any],
        row: int,
        entity: str | None,
        errors: list[dict[str, Any]],
    ) -> datetime | None:
        given = raw.get("observed_at")
        if given is None or (isinstance(given, str) and not given.strip()):
            errors.append(_error(row, entity, "observed_at", "required", "observed_at is required"))
            return None
        moment = _moment(given)
        if moment is None:
            errors.append(
                _error(
                    row,
                    entity,
                    "observed_at",
                    "type",
                    f"observed_at must be an ISO 8601 time such as 2025-03-01T12:00:00Z, got "
                    f"{given!r}",
                )
            )
            return None
        if moment > self.now + CLOCK_SKEW:
            errors.append(
                _error(
                    row,
                    entity,
                    "observed_at",
                    "max",
                    f"observed_at {moment.isoformat()} is in the future; send outcomes once "
                    "they have happened",
                )
            )
            return None
        return moment

    def _outcome(
        self, raw: Mapping[str, Any], row: int, entity: str | None, errors: list[dict[str, Any]]
    ) -> tuple[str | None, float | None]:
        name, semantics = self.field, self.semantics
        given = raw.get(name)
        if semantics.kind == "value":
            number = _number(given)
            if given is None or (isinstance(given, str) and not given.strip()):
                errors.append(_error(row, entity, name, "required", f"{name} is required"))
            elif number is None:
                errors.append(
                    _error(row, entity, name, "type", f"{name} must be a number, got {given!r}")
                )
            return None, number
        label = canonical_label(given)
        if label is None:
            errors.append(_error(row, entity, name, "required", f"{name} is required"))
            return None, None
        if semantics.binary and label not in (semantics.positive, semantics.negative):
            allowed = [semantics.positive or "", semantics.negative or ""]
            errors.append(
                _error(
                    row,
                    entity,
                    name,
                    "allowed_values",
                    f"{name} must be {allowed[0]!r} (positive) or {allowed[1]!r} (negative), got "
                    f"{given!r}{did_you_mean(label, allowed)}",
                )
            )
            return None, None
        return label, None


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, float) and math.isnan(value):
        return None
    text = str(value).strip()
    return text or None


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or value is None:
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _moment(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, date):
        moment = datetime(value.year, value.month, value.day)
    elif isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value.strip())
        except ValueError:
            return None
    else:
        return None
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def record_outcomes(
    spec: Spec,
    store: StoreContract,
    records: Iterable[Any],
    *,
    actor: str,
    source: str = "api",
    first_row: int = 0,
    now: datetime | None = None,
) -> tuple[OutcomesRecorded, list[dict[str, Any]]]:
    """Parse and record ``records`` (JSON objects) in one store write. Returns what the store
    did and the errors of refused records, in record order."""
    parser = OutcomeParser(spec, now=now)
    good: list[OutcomeInput] = []
    errors: list[dict[str, Any]] = []
    entities: dict[int, str | None] = {}
    for row, raw in enumerate(records, start=first_row):
        if not isinstance(raw, Mapping):
            errors.append(_error(row, None, "", "type", "an outcome must be a JSON object"))
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
            _error(problem.row, entities.get(problem.row), name, problem.rule, problem.message)
        )
    errors.sort(key=lambda e: (e["record"], e["field"]))
    return result, errors


@dataclass
class ImportSummary:
    """What an import did: every row is recorded (matched or not), a duplicate, or refused."""

    app: str
    source: str
    rows: int = 0
    recorded: OutcomesRecorded = field(default_factory=OutcomesRecorded)
    refused: int = 0
    first_errors: list[dict[str, Any]] = field(default_factory=list)
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
    store: StoreContract,
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
            good: list[OutcomeInput] = []
            errors: list[dict[str, Any]] = []
            for index, raw in enumerate(chunk.iter_rows(named=True), start=offset + 1):
                if index in bad_rows:
                    errors.append(_error(index, None, "", "record", bad_rows[index]))
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
                        _error(
                            problem.row,
                            entities.get(problem.row),
                            field_name,
                            problem.rule,
                            problem.message,
                        )
                    )
            if errors:
                errors.sort(key=lambda e: e["record"])
                summary.refused += len({e["record"] for e in errors})
                room = keep_errors - len(summary.first_errors)
                summary.first_errors.extend(errors[: max(room, 0)])
                if writer is None:
                    writer = RecordWriter(rejects_path, REJECT_SCHEMA)
                writer.write(
                    pl.DataFrame([{**e, "row": e["record"]} for e in errors], schema=REJECT_SCHEMA)
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
