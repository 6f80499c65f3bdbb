"""The input contract's short path for online records whose values are already clean.

Most records sent to the API carry each value in its own JSON type (``3`` for an int field,
``"premium"`` for a category), within bounds. For a small batch of those, the polars queries of
:func:`doorstep.core.contract.validate_batch` cost more than the work: :func:`validate_clean`
checks such records in plain Python and builds the same ``valid`` frame directly.

It only ever says "all clean" or "not sure": any value that needs converting, is missing where
required, or breaks a rule makes it return ``None``, and the caller runs the full check, which
types the values and words the errors. A differential test holds the two paths to the same
``valid`` frame on generated records.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import polars as pl

from doorstep.core.coerce import DTYPES, boolean_categories
from doorstep.core.contract import ROW_COLUMN, ValidatedBatch, empty_rejects
from doorstep.core.spec.models import FieldSpec, InputsSpec

__all__ = ["MAX_CLEAN_ROWS", "validate_clean"]

MAX_CLEAN_ROWS = 256
"""Larger batches go to the vectorised check, which is faster per row from about here on."""

_INT_LIMIT = 2**63
_EXACT_FLOAT_INT = 2**53
Check = Callable[[Any], bool]


def validate_clean(
    records: Sequence[Any], inputs: InputsSpec, *, row_offset: int = 0
) -> ValidatedBatch | None:
    """The records checked and typed as :func:`validate_batch` would, or ``None`` when one of
    them is not plainly clean (the caller then runs the full check)."""
    if not records or len(records) > MAX_CLEAN_ROWS:
        return None
    checks = _checks(inputs)
    names = [inputs.id, *inputs.fields]
    columns: list[list[Any]] = [[] for _ in names]
    for record in records:
        if type(record) is not dict:
            return None
        for name, check, column in zip(names, checks, columns, strict=True):
            value = record.get(name)
            if not check(value):
                return None
            column.append(value)
    first = row_offset + 1
    series = [pl.Series(ROW_COLUMN, range(first, first + len(records)), dtype=pl.Int64)]
    series.append(pl.Series(inputs.id, columns[0], dtype=pl.String))
    for (name, spec), column in zip(inputs.fields.items(), columns[1:], strict=True):
        if spec.type == "category" and any(type(v) is bool for v in column):
            spelled = boolean_categories(spec.values)  # true -> "True", as the full check
            column = [spelled[v] if type(v) is bool else v for v in column]
        series.append(pl.Series(name, column, dtype=DTYPES[spec.type]))
    return ValidatedBatch(pl.DataFrame(series), empty_rejects())


_CHECKS: dict[int, tuple[InputsSpec, list[Check]]] = {}


def _checks(inputs: InputsSpec) -> list[Check]:
    """One predicate per column (the id first): is this value plainly valid as it is?"""
    hit = _CHECKS.get(id(inputs))
    if hit is not None and hit[0] is inputs:
        return hit[1]
    checks = [_is_id, *(_field_check(spec) for spec in inputs.fields.values())]
    if len(_CHECKS) >= 64:
        _CHECKS.clear()
    _CHECKS[id(inputs)] = (inputs, checks)
    return checks


def _is_id(value: Any) -> bool:
    return type(value) is str and value != ""


def _field_check(spec: FieldSpec) -> Check:
    present = _present_check(spec)
    if present is None:  # a type the short path leaves to the full check (datetime)
        return lambda _value: False
    if spec.required:
        return present
    return lambda value: value is None or present(value)


def _present_check(spec: FieldSpec) -> Check | None:
    low = -math.inf if spec.min is None else spec.min
    high = math.inf if spec.max is None else spec.max
    if spec.type == "int":
        low, high = max(low, -_INT_LIMIT), min(high, _INT_LIMIT - 1)
        return lambda v: type(v) is int and low <= v <= high
    if spec.type == "float":
        # NaN and infinities fail the comparison; big ints would round on the way to float
        low, high = max(low, -math.inf), min(high, math.inf)

        def is_float(v: Any) -> bool:
            kind = type(v)
            if kind is float:
                return low <= v <= high and math.isfinite(v)
            return kind is int and -_EXACT_FLOAT_INT < v < _EXACT_FLOAT_INT and low <= v <= high

        return is_float
    if spec.type == "bool":
        return lambda v: type(v) is bool
    if spec.type == "category":  # the spec requires the list of values
        allowed = frozenset(spec.values or ()) - {""}
        booleans = {
            flag for flag, text in boolean_categories(spec.values).items() if text in allowed
        }
        return lambda v: (type(v) is str and v in allowed) or (type(v) is bool and v in booleans)
    if spec.type == "string":
        return lambda v: type(v) is str
    return None
