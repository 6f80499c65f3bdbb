"""The input contract: check a batch against the spec's ``inputs`` and type it, vectorised.

:func:`validate_batch` never crashes on bad data and never lets a bad value through silently.
It splits a batch into ``valid`` rows, typed as the model expects (see :mod:`doorstep.core.ports`),
and ``rejects``: one row per broken (record, field) pair, naming the rule and the value, e.g.
``row 17 (customer_id=C-0042): tenure_months must be >= 0, got -3``.

How it stays fast: one lazy polars query types every column and computes one ``bad`` flag per
record; reject rows and their messages are only built for the records that are bad.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import polars as pl

from doorstep.core.coerce import (
    DTYPES,
    EXPECTED,
    Coercion,
    boolean_categories,
    coerce,
    entity_id,
    is_native,
    source_text,
    to_text,
)
from doorstep.core.spec.models import FieldSpec, InputsSpec
from doorstep.core.suggest import did_you_mean
from doorstep.errors import InputError

__all__ = [
    "REJECT_SCHEMA",
    "ROW_COLUMN",
    "RejectRule",
    "ValidatedBatch",
    "empty_rejects",
    "frame_from_records",
    "valid_schema",
    "validate_batch",
]

ROW_COLUMN = "_row"
"""Column of ``valid`` holding the 1-based row number of the record in the input."""

RejectRule = Literal["required", "type", "min", "max", "allowed_values", "id_required"]

REJECT_SCHEMA: dict[str, pl.DataType] = {
    "row": pl.Int64(),
    "entity_id": pl.String(),
    "field": pl.String(),
    "rule": pl.String(),
    "value": pl.String(),
    "message": pl.String(),
}
"""Columns of :attr:`ValidatedBatch.rejects` (and of a batch run's rejects file)."""

_BAD = "__bad"
_MAX_LISTED = 10
_MAX_SUGGESTED = 1_000


@dataclass(frozen=True)
class ValidatedBatch:
    """A batch split by the input contract."""

    valid: pl.DataFrame
    """``_row`` (Int64, 1-based input row), the id (String), then every spec field in spec
    order, typed as in :mod:`doorstep.core.ports`."""
    rejects: pl.DataFrame
    """One row per broken (record, field): columns of :data:`REJECT_SCHEMA`, ordered by row."""

    @property
    def rows(self) -> int:
        """Records in the input: every one is either valid or has at least one reject row."""
        return self.valid.height + self.rejects["row"].n_unique()


@dataclass(frozen=True)
class _Field:
    name: str
    spec: FieldSpec
    coercion: Coercion
    text: pl.Expr


def valid_schema(inputs: InputsSpec) -> dict[str, pl.DataType]:
    """Column names and dtypes of :attr:`ValidatedBatch.valid` for ``inputs``."""
    schema: dict[str, pl.DataType] = {ROW_COLUMN: pl.Int64(), inputs.id: pl.String()}
    schema.update({name: DTYPES[spec.type] for name, spec in inputs.fields.items()})
    return schema


def validate_batch(
    frame: pl.DataFrame, inputs: InputsSpec, *, row_offset: int = 0
) -> ValidatedBatch:
    """Check and type ``frame`` against ``inputs``; split it into valid rows and rejects.

    ``row_offset`` is the number of input rows before this frame (for chunked batch runs), so
    row numbers count from ``row_offset + 1``. Raises :class:`~doorstep.errors.InputError` only
    when a required column (or the id column) is absent altogether; every problem with a value
    becomes a reject row instead. Columns not in the spec are ignored.
    """
    _check_columns(frame, inputs)
    source = _native_columns(frame.select([c for c in _spec_columns(inputs) if c in frame.columns]))
    plan = _compile(source, inputs)
    fields, missing = plan.fields, plan.missing
    first = row_offset + 1
    rows = pl.int_range(first, first + pl.len(), dtype=pl.Int64).alias(ROW_COLUMN)
    # eager select: the lazy optimiser costs ~0.4 ms per call, which online batches of a few
    # records feel and large batches do not gain from (one projection, no joins)
    out = source.select([rows, *plan.typed])

    # Cheap column-wide checks first (mostly aggregates); row masks only for suspect columns.
    id_missing = _id_missing(pl.col(inputs.id))
    suspects = out.select(plan.checks).row(0)
    masks = [id_missing] if suspects[0] else []
    for field, suspect in zip(fields, suspects[1:], strict=True):
        if suspect:
            masks.extend(_masks(pl.col(field.name), field.spec, missing[field.name]))
    columns = list(valid_schema(inputs))
    if not masks:
        return ValidatedBatch(out[columns], empty_rejects())
    bad = out.select(pl.any_horizontal(masks).fill_null(False)).to_series()
    if not bad.any():
        return ValidatedBatch(out[columns], empty_rejects())
    valid = out.filter(~bad)[columns]
    positions = bad.arg_true()
    rejects = _rejects(source[positions], positions, inputs, fields, row_offset)
    return ValidatedBatch(valid, rejects)


@dataclass(frozen=True)
class _Compiled:
    """The expressions validating one input schema against one contract, built once."""

    fields: list[_Field]
    typed: list[pl.Expr]
    missing: dict[str, pl.Expr | None]
    checks: list[pl.Expr]


_COMPILED: dict[tuple[int, tuple[tuple[str, pl.DataType], ...]], tuple[InputsSpec, _Compiled]] = {}
"""Compiled plans by (contract, input schema): online requests and chunks of one file reuse
theirs instead of rebuilding hundreds of expressions per call."""


def _compile(source: pl.DataFrame, inputs: InputsSpec) -> _Compiled:
    key = (id(inputs), tuple(source.schema.items()))
    hit = _COMPILED.get(key)
    if hit is not None and hit[0] is inputs:
        return hit[1]
    fields = _plan(source, inputs)
    typed: list[pl.Expr] = [entity_id(pl.col(inputs.id), source.schema[inputs.id]).alias(inputs.id)]
    missing: dict[str, pl.Expr | None] = {}
    for index, field in enumerate(fields):
        typed.append(field.coercion.typed.alias(field.name))
        if field.coercion.missing is None:
            missing[field.name] = None
        else:
            helper = f"__missing_{index}"
            typed.append(field.coercion.missing.alias(helper))
            missing[field.name] = pl.col(helper)
    checks = [_id_missing(pl.col(inputs.id)).any().alias("__id")]
    for index, field in enumerate(fields):
        suspect = _suspect(pl.col(field.name), field.spec, missing[field.name])
        checks.append(suspect.alias(f"__suspect_{index}"))
    compiled = _Compiled(fields, typed, missing, checks)
    if len(_COMPILED) >= 64:
        _COMPILED.clear()
    _COMPILED[key] = (inputs, compiled)
    return compiled


def frame_from_records(records: Sequence[dict[str, Any]], inputs: InputsSpec) -> pl.DataFrame:
    """A frame of the spec's columns (id first) from JSON-like records, for online requests.

    Never raises on values: a column whose values do not share one JSON type (``3`` and
    ``"x"``) is kept as text, so :func:`validate_batch` reports the bad values with rule
    ``type``. Keys not in the spec are ignored; absent keys are missing values. A boolean for a
    category field becomes the category spelling it (``true`` → ``"True"``: see
    :func:`~doorstep.core.coerce.boolean_categories`), so ``true`` and ``"True"`` mix.
    """
    columns: dict[str, pl.Series] = {}
    for name in _spec_columns(inputs):
        values = [record.get(name) for record in records]
        spec = inputs.fields.get(name)
        if spec is not None and spec.type == "category" and any(type(v) is bool for v in values):
            spelled = boolean_categories(spec.values)
            values = [spelled[v] if type(v) is bool else v for v in values]
        columns[name] = _column(name, values)
    return pl.DataFrame(columns, height=len(records))


def _spec_columns(inputs: InputsSpec) -> list[str]:
    return [inputs.id, *inputs.fields]


def _check_columns(frame: pl.DataFrame, inputs: InputsSpec) -> None:
    present = set(frame.columns)
    needed = [inputs.id, *(n for n, f in inputs.fields.items() if f.required)]
    absent = [name for name in needed if name not in present]
    if not absent:
        return
    described = "; ".join(
        f"{name!r}{' (the id)' if name == inputs.id else ''}{did_you_mean(name, frame.columns)}"
        for name in absent
    )
    found = ", ".join(repr(c) for c in frame.columns[:30]) or "none"
    if frame.width > 30:
        found += f", ... ({frame.width} in all)"
    plural = "s" if len(absent) > 1 else ""
    raise InputError(
        f"The input has no column{plural} {described}, required by the spec's inputs. "
        f"Columns found: {found}. Rename the column{plural} in the input, or mark an "
        "optional field with 'required: false'."
    )


def _native_columns(frame: pl.DataFrame) -> pl.DataFrame:
    """Columns of dtypes polars cannot cast (lists, structs, objects) become JSON-like text."""
    exotic = [name for name, dtype in frame.schema.items() if not is_native(dtype)]
    if not exotic:
        return frame
    return frame.with_columns(
        pl.Series(name, [to_text(v) for v in frame[name].to_list()], dtype=pl.String)
        for name in exotic
    )


def _plan(source: pl.DataFrame, inputs: InputsSpec) -> list[_Field]:
    schema = source.schema
    fields = []
    for name, spec in inputs.fields.items():
        dtype = schema.get(name)
        if dtype is None:  # an optional column absent from the input: all missing
            coercion = Coercion(pl.lit(None, dtype=DTYPES[spec.type]), None)
            text = pl.lit(None, dtype=pl.String)
        else:
            coercion = coerce(pl.col(name), dtype, spec.type, values=spec.values)
            text = source_text(pl.col(name), dtype)
        fields.append(_Field(name, spec, coercion, text))
    return fields


def _allowed(typed: pl.Expr, values: list[str]) -> pl.Expr:
    """Whether a category is allowed (null stays null); a few ``==`` beat a hash lookup."""
    if len(values) > 8:
        return typed.is_in(values)
    return pl.any_horizontal([typed == value for value in values])


def _id_missing(text: pl.Expr) -> pl.Expr:
    return text.is_null() | (text == "")


def _suspect(typed: pl.Expr, spec: FieldSpec, missing: pl.Expr | None) -> pl.Expr:
    """One boolean per column: may any value break a rule? (Aggregates where possible.)"""
    parts = []
    if spec.required:
        parts.append(typed.null_count() > 0)
    elif missing is not None:
        parts.append((~missing & typed.is_null()).any())
    if spec.type == "float":
        parts.append((typed.max() == float("inf")) | (typed.min() == float("-inf")))
    if spec.min is not None:
        parts.append(typed.min() < spec.min)
    if spec.max is not None:
        parts.append(typed.max() > spec.max)
    if spec.type == "category" and spec.values is not None:
        parts.append(~_allowed(typed, spec.values).all())
    if not parts:
        return pl.lit(False)
    return pl.any_horizontal(parts).fill_null(False)


def _masks(typed: pl.Expr, spec: FieldSpec, missing: pl.Expr | None) -> list[pl.Expr]:
    """Boolean expressions, true where the field breaks a rule (null counts as false)."""
    masks = []
    if spec.required:
        masks.append(typed.is_null())
    elif missing is not None:
        masks.append(~missing & typed.is_null())
    if spec.type == "float":
        masks.append(typed.is_infinite())
    if spec.min is not None and spec.max is not None:
        masks.append(~typed.is_between(spec.min, spec.max))
    elif spec.min is not None:
        masks.append(typed < spec.min)
    elif spec.max is not None:
        masks.append(typed > spec.max)
    if spec.type == "category" and spec.values is not None:
        masks.append(~_allowed(typed, spec.values))
    return masks


def _rule(field: _Field) -> pl.Expr:
    """Which rule a field breaks (the first in contract order), or null."""
    spec, typed = field.spec, field.coercion.typed
    missing = field.coercion.missing_mask
    cases = [(missing & pl.lit(spec.required), "required"), (~missing & typed.is_null(), "type")]
    if spec.type == "float":
        cases.append((typed.is_infinite(), "type"))
    if spec.min is not None:
        cases.append((typed < spec.min, "min"))
    if spec.max is not None:
        cases.append((typed > spec.max, "max"))
    if spec.type == "category" and spec.values is not None:
        cases.append((~_allowed(typed, spec.values), "allowed_values"))
    # the first case that holds: when(c).then(v) is null where c is false or null
    return pl.coalesce([pl.when(cond).then(pl.lit(rule)) for cond, rule in cases])


def _rejects(
    source: pl.DataFrame,
    positions: pl.Series,
    inputs: InputsSpec,
    fields: list[_Field],
    row_offset: int,
) -> pl.DataFrame:
    """Reject rows for the bad records only (``source`` holds just those records)."""
    id_text = entity_id(pl.col(inputs.id), source.schema[inputs.id])
    rows = (positions.cast(pl.Int64) + (row_offset + 1)).alias("row")
    base = source.with_columns(rows, id_text.alias("__entity_id"))
    id_missing = _id_missing(pl.col("__entity_id"))
    pieces = []
    head = [pl.col("row"), pl.when(~id_missing).then(pl.col("__entity_id")).alias("entity_id")]
    pieces.append(
        base.select(
            *head,
            pl.lit(inputs.id).alias("field"),
            pl.when(id_missing).then(pl.lit("id_required")).alias("rule"),
            pl.lit(None, dtype=pl.String).alias("value"),
            pl.lit(0).alias("__order"),
        ).filter(pl.col("rule").is_not_null())
    )
    for order, field in enumerate(fields, start=1):
        value = field.text
        if field.spec.type == "category":  # report the category as compared, e.g. 2.0 -> "2"
            value = pl.when(field.coercion.typed.is_not_null()).then(field.coercion.typed)
            value = value.otherwise(field.text)
        rule = _rule(field)
        piece = base.select(
            *head,
            pl.lit(field.name).alias("field"),
            rule.alias("rule"),
            pl.when(rule != "required").then(value).alias("value"),
            pl.lit(order).alias("__order"),
        ).filter(pl.col("rule").is_not_null())
        if piece.height:
            pieces.append(_with_messages(piece, field.name, field.spec, inputs.id))
    missing_id = pl.lit(f"{inputs.id} is required but missing: every record needs an id")
    pieces[0] = pieces[0].with_columns((_prefix(inputs.id) + missing_id).alias("message"))
    found = [piece for piece in pieces if piece.height]
    if not found:  # pragma: no cover - a bad record always breaks a rule
        return empty_rejects()
    rejects = pl.concat(found)
    rejects = rejects.sort(["row", "__order"]).select(list(REJECT_SCHEMA))
    return rejects.cast(dict(REJECT_SCHEMA.items()))


def _prefix(id_name: str) -> pl.Expr:
    """``row 17 (customer_id=C-0042): `` or ``row 17: `` when the id is missing."""
    who = pl.when(pl.col("entity_id").is_not_null())
    who_text = who.then(pl.concat_str([pl.lit(f" ({id_name}="), pl.col("entity_id"), pl.lit(")")]))
    return pl.concat_str(
        [
            pl.lit("row "),
            pl.col("row").cast(pl.String),
            who_text.otherwise(pl.lit("")),
            pl.lit(": "),
        ]
    )


def _with_messages(piece: pl.DataFrame, name: str, spec: FieldSpec, id_name: str) -> pl.DataFrame:
    value = pl.col("value")
    quoted = pl.concat_str([pl.lit("'"), value, pl.lit("'")])
    expected = (
        _one_of(spec.values) if spec.type == "category" and spec.values else EXPECTED[spec.type]
    )
    bodies = {
        "required": pl.lit(f"{name} is required but missing"),
        "type": pl.concat_str([pl.lit(f"{name} must be {expected}, got "), quoted]),
    }
    if spec.min is not None:
        bodies["min"] = pl.concat_str(
            [pl.lit(f"{name} must be >= {_number(spec.min)}, got "), value]
        )
    if spec.max is not None:
        bodies["max"] = pl.concat_str(
            [pl.lit(f"{name} must be <= {_number(spec.max)}, got "), value]
        )
    if spec.type == "category" and spec.values:
        hint = _suggestions(piece.filter(pl.col("rule") == "allowed_values")["value"], spec.values)
        got = pl.concat_str([pl.lit(f"{name} must be {expected}, got "), quoted, hint])
        bodies["allowed_values"] = got
    body = pl.coalesce(
        [pl.when(pl.col("rule") == rule).then(text) for rule, text in bodies.items()]
    )
    return piece.with_columns((_prefix(id_name) + body).alias("message"))


def _suggestions(values: pl.Series, allowed: list[str]) -> pl.Expr:
    """A ``" (did you mean 'premium'?)"`` column for bad category values."""
    unique = values.drop_nulls().unique()
    if unique.len() == 0 or unique.len() > _MAX_SUGGESTED:
        return pl.lit("")
    hints = {value: did_you_mean(value, allowed) for value in unique.to_list()}
    return pl.col("value").replace_strict(hints, default="", return_dtype=pl.String)


def _one_of(values: Iterable[str]) -> str:
    listed = list(values)
    shown = ", ".join(repr(v) for v in listed[:_MAX_LISTED])
    if len(listed) > _MAX_LISTED:
        shown += f", ... ({len(listed)} in all)"
    return f"one of {shown}"


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(value)


def empty_rejects() -> pl.DataFrame:
    """A rejects frame with no rows."""
    return pl.DataFrame(schema=REJECT_SCHEMA)


def _column(name: str, values: list[Any]) -> pl.Series:
    """One column of JSON-like values: typed when the values agree, else their JSON text."""
    kinds = {type(v) for v in values if v is not None}
    if not kinds:
        return pl.Series(name, values, dtype=pl.Null)
    if kinds == {bool}:
        return pl.Series(name, values, dtype=pl.Boolean)
    if kinds == {str}:
        return pl.Series(name, values, dtype=pl.String)
    if kinds <= {int} and all(v is None or -(2**63) <= v < 2**63 for v in values):
        return pl.Series(name, values, dtype=pl.Int64)
    if kinds <= {int, float} and all(v is None or abs(v) < 2**53 for v in values):
        return pl.Series(name, values, dtype=pl.Float64)
    if len(kinds) == 1 and not kinds & {dict, list, tuple, set, bytes, float, int}:
        try:  # datetimes, dates, decimals given by Python callers
            return pl.Series(name, values, strict=True)
        except (TypeError, ValueError, pl.exceptions.PolarsError):
            pass
    return pl.Series(name, [to_text(v) for v in values], dtype=pl.String)
