"""Polars expressions that turn an input column of any dtype into a contract type.

:func:`coerce` looks at the column's dtype once, in Python, and returns expressions specialised
for it, so a column that already has the right dtype costs (almost) nothing. Casts never raise:
a value that cannot be converted becomes null, and the contract tells it apart from a missing
value by comparing with :attr:`Coercion.missing` ("non-null before, null after" is a type error).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import polars as pl

from doorstep.core.spec.models import FieldType

__all__ = [
    "Coercion",
    "boolean_categories",
    "coerce",
    "entity_id",
    "is_native",
    "source_text",
    "to_text",
]

UTC_MICROS = pl.Datetime("us", "UTC")
DTYPES: dict[FieldType, pl.DataType] = {
    "int": pl.Int64(),
    "float": pl.Float64(),
    "bool": pl.Boolean(),
    "category": pl.String(),
    "string": pl.String(),
    "datetime": UTC_MICROS,
}
"""The polars dtype of each contract type in a validated batch (see :mod:`doorstep.core.ports`)."""

EXPECTED: dict[FieldType, str] = {
    "int": "an integer",
    "float": "a finite number",
    "bool": "true or false (true/false, yes/no, 1/0)",
    "category": "a category",
    "string": "text",
    "datetime": "an ISO 8601 date or date-time such as 2024-05-01T10:00:00Z",
}
"""How a type error describes the expected type: ``tenure_months must be an integer``."""

_BOOL_WORDS = {"true": True, "false": False, "yes": True, "no": False, "1": True, "0": False}
_DATETIME_FORMATS = (
    ("%Y-%m-%dT%H:%M:%S%.f%z", True),
    ("%Y-%m-%dT%H:%M:%S%.f", False),
    ("%Y-%m-%dT%H:%M%z", True),
    ("%Y-%m-%dT%H:%M", False),
    ("%Y-%m-%d", False),
)
_INT64_LIMIT = 2.0**63


@dataclass(frozen=True)
class Coercion:
    """How one source column becomes a typed column."""

    typed: pl.Expr
    """The value in its contract dtype; null when missing or not convertible."""
    missing: pl.Expr | None
    """True where the source value is missing (null, NaN, empty text). ``None`` means the
    conversion cannot fail, so ``typed.is_null()`` is exactly the missing mask."""

    @property
    def missing_mask(self) -> pl.Expr:
        return self.typed.is_null() if self.missing is None else self.missing


def is_native(dtype: pl.DataType) -> bool:
    """Whether :func:`coerce` handles the dtype with expressions (others go through text)."""
    return (
        dtype.is_numeric()
        or isinstance(dtype, pl.String | pl.Categorical | pl.Enum | pl.Boolean | pl.Null)
        or isinstance(dtype, pl.Datetime | pl.Date)
    )


def to_text(value: Any) -> str | None:
    """JSON-like text of one Python value, for columns polars cannot cast (lists, objects)."""
    if value is None:
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, pl.Series):
        value = value.to_list()
    try:
        return json.dumps(value, default=str, ensure_ascii=False)
    except (TypeError, ValueError):
        return str(value)


def source_text(src: pl.Expr, dtype: pl.DataType) -> pl.Expr:
    """The source value as text, for reject files and messages (null when missing)."""
    if isinstance(dtype, pl.String):
        return src
    if isinstance(dtype, pl.Null):
        return src.cast(pl.String)
    return src.cast(pl.String, strict=False)


def entity_id(src: pl.Expr, dtype: pl.DataType) -> pl.Expr:
    """The id column as text (null when missing; whole floats lose their ``.0``)."""
    if dtype.is_float():
        whole = _whole_float(src)
        text = pl.when(whole.is_not_null()).then(whole.cast(pl.String))
        return pl.when(~src.is_nan()).then(text.otherwise(src.cast(pl.String)))
    return source_text(src, dtype)


def boolean_categories(values: Sequence[str] | None) -> dict[bool, str]:
    """The categories a boolean becomes: the declared value spelling ``true`` or ``false`` in
    any case (``"True"``/``"False"``, as pandas' ``astype(str)`` writes a bool column, which
    is what a model trained on it stores), else ``"true"``/``"false"`` (not allowed, then)."""
    spelled = {(v.lower() if isinstance(v, str) else ""): v for v in values or ()}
    return {True: spelled.get("true", "true"), False: spelled.get("false", "false")}


def coerce(
    src: pl.Expr,
    dtype: pl.DataType,
    field_type: FieldType,
    *,
    values: Sequence[str] | None = None,
) -> Coercion:
    """Expressions converting ``src`` (a column of ``dtype``) to ``field_type``; ``values``:
    a category field's allowed values (booleans become the ones spelling them)."""
    if isinstance(dtype, pl.Categorical | pl.Enum):
        src, dtype = src.cast(pl.String), pl.String()
    if isinstance(dtype, pl.Decimal) and field_type in ("int", "float", "bool"):
        src, dtype = src.cast(pl.Float64), pl.Float64()
    if isinstance(dtype, pl.Null):
        return Coercion(src.cast(DTYPES[field_type]), None)
    if field_type == "int":
        return _to_int(src, dtype)
    if field_type == "float":
        return _to_float(src, dtype)
    if field_type == "bool":
        return _to_bool(src, dtype)
    if field_type == "category":
        return _to_category(src, dtype, values)
    if field_type == "string":
        return _to_string(src, dtype)
    return _to_datetime(src, dtype)


def _never(src: pl.Expr, field_type: FieldType) -> Coercion:
    """Every present value is a type error (e.g. a boolean for an int field)."""
    return Coercion(pl.lit(None, dtype=DTYPES[field_type]), src.is_null())


def _blank(text: pl.Expr) -> pl.Expr:
    return text.is_null() | (text.str.strip_chars() == "")


def _whole_float(value: pl.Expr) -> pl.Expr:
    """Float → Int64 where the float is finite, integral and in range; null elsewhere."""
    ok = value.is_finite() & (value.floor() == value) & (value.abs() < _INT64_LIMIT)
    return pl.when(ok).then(value.cast(pl.Int64, strict=False))


def _to_int(src: pl.Expr, dtype: pl.DataType) -> Coercion:
    if isinstance(dtype, pl.Int64):
        return Coercion(src, None)
    if dtype.is_integer():
        can_overflow = isinstance(dtype, pl.UInt64 | pl.Int128 | pl.UInt128)
        typed = src.cast(pl.Int64, strict=False)
        return Coercion(typed, src.is_null() if can_overflow else None)
    if dtype.is_float():
        return Coercion(_whole_float(src), src.is_null() | src.is_nan())
    if isinstance(dtype, pl.String):
        text = src.str.strip_chars()
        number = text.cast(pl.Float64, strict=False)
        typed = pl.coalesce(text.str.to_integer(strict=False), _whole_float(number))
        return Coercion(typed, _blank(src) | number.is_nan().fill_null(False))
    return _never(src, "int")


def _to_float(src: pl.Expr, dtype: pl.DataType) -> Coercion:
    if isinstance(dtype, pl.Float64):
        return Coercion(src.fill_nan(None), None)
    if dtype.is_float():
        return Coercion(src.cast(pl.Float64).fill_nan(None), None)
    if dtype.is_integer():
        return Coercion(src.cast(pl.Float64, strict=False), None)
    if isinstance(dtype, pl.String):
        number = src.str.strip_chars().cast(pl.Float64, strict=False)
        return Coercion(number.fill_nan(None), _blank(src) | number.is_nan().fill_null(False))
    return _never(src, "float")


def _to_bool(src: pl.Expr, dtype: pl.DataType) -> Coercion:
    if isinstance(dtype, pl.Boolean):
        return Coercion(src, None)
    if dtype.is_numeric():
        flag = pl.when(src == 1).then(pl.lit(True)).when(src == 0).then(pl.lit(False))
        missing = src.is_null() | src.is_nan() if dtype.is_float() else src.is_null()
        return Coercion(flag, missing)
    if isinstance(dtype, pl.String):
        words = src.str.strip_chars().str.to_lowercase()
        typed = words.replace_strict(_BOOL_WORDS, default=None, return_dtype=pl.Boolean)
        return Coercion(typed, _blank(src))
    return _never(src, "bool")


def _to_category(src: pl.Expr, dtype: pl.DataType, values: Sequence[str] | None) -> Coercion:
    if isinstance(dtype, pl.String):
        return Coercion(pl.when(src != "").then(src), None)
    if dtype.is_float():
        whole = _whole_float(src)
        text = (
            pl.when(whole.is_not_null()).then(whole.cast(pl.String)).otherwise(src.cast(pl.String))
        )
        return Coercion(pl.when(~src.is_nan()).then(text), None)
    if isinstance(dtype, pl.Boolean):
        spelled = boolean_categories(values)
        true, false = pl.lit(spelled[True]), pl.lit(spelled[False])
        return Coercion(pl.when(src).then(true).when(src.not_()).then(false), None)
    if dtype.is_integer():
        return Coercion(src.cast(pl.String), None)
    return _never(src, "category")


def _to_string(src: pl.Expr, dtype: pl.DataType) -> Coercion:
    if isinstance(dtype, pl.String):
        return Coercion(src, None)
    if dtype.is_float():
        return Coercion(src.fill_nan(None).cast(pl.String), None)
    return Coercion(src.cast(pl.String, strict=False), src.is_null())


def _to_datetime(src: pl.Expr, dtype: pl.DataType) -> Coercion:
    if isinstance(dtype, pl.Datetime):
        if dtype.time_zone is None:
            typed = src.cast(pl.Datetime("us")).dt.replace_time_zone("UTC")
        else:
            typed = src.dt.convert_time_zone("UTC").cast(UTC_MICROS)
        return Coercion(typed, None)
    if isinstance(dtype, pl.Date):
        return Coercion(src.cast(pl.Datetime("us")).dt.replace_time_zone("UTC"), None)
    if isinstance(dtype, pl.String):
        text = (
            src.str.strip_chars()
            .str.replace(" ", "T", literal=True, n=1)
            .str.replace(r"[Zz]$", "+00:00")
        )
        attempts = []
        for fmt, aware in _DATETIME_FORMATS:
            parsed = text.str.to_datetime(fmt, strict=False, time_unit="us", exact=True)
            if aware:
                attempts.append(parsed.dt.convert_time_zone("UTC"))
            else:
                attempts.append(parsed.dt.replace_time_zone("UTC"))
        return Coercion(pl.coalesce(attempts), _blank(src))
    return _never(src, "datetime")
