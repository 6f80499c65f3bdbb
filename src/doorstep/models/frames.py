"""Turn a typed polars batch into what a library predicts on, fast: one vectorised expression per
column, category names mapped to the model's own codes through a precomputed table (unseen or
null categories become NaN, which every tree library treats as missing), no per-row Python."""

from __future__ import annotations

import math
import re
import threading
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt
import polars as pl

from doorstep.errors import ModelError

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "feature_columns",
    "is_positional",
    "numeric_matrix",
    "pandas_frame",
]

_GENERIC_NAME = re.compile(r"^(Column_|f|x|X|feature_?|input_?)\d+$")

Codes = Mapping[str, float]


def is_positional(feature_names: Sequence[str]) -> bool:
    """Whether a model's feature names are placeholders (LightGBM ``Column_0``, XGBoost ``f0``,
    scikit-learn ``x0``), in which case a batch is matched to the model by position."""
    return bool(feature_names) and all(_GENERIC_NAME.match(n) for n in feature_names)


def feature_columns(
    batch: pl.DataFrame, feature_names: Sequence[str], *, positional: bool, model: str
) -> list[str]:
    """The batch's columns in the model's order: by name, or by position for models without
    real names. Raise :class:`ModelError` naming what is missing."""
    if positional:
        if batch.width != len(feature_names):
            raise ModelError(
                f"The model {model} takes {len(feature_names)} features by position but the "
                f"batch has {batch.width} columns ({', '.join(batch.columns)})."
            )
        return list(batch.columns)
    present = set(batch.columns)
    missing = [n for n in feature_names if n not in present]
    if missing:
        raise ModelError(
            f"The model {model} needs the input(s) {', '.join(map(repr, missing))}, which the "
            "batch does not have. Add them to the spec's 'inputs.fields'."
        )
    return list(feature_names)


_EXPRESSIONS: dict[tuple[object, ...], tuple[object, list[pl.Expr]]] = {}
"""Built expressions per (input schema, columns, code tables): online requests reuse them."""


_LAST = threading.local()
"""Per thread, the last (batch, columns, codes) converted and its matrix: ``predict`` and then
``contributions`` of the same batch (the decision path's order) convert it once."""


def numeric_matrix(
    batch: pl.DataFrame,
    columns: Sequence[str],
    codes: Sequence[Codes | None] | None = None,
) -> npt.NDArray[np.float64]:
    """A C-ordered float64 matrix of ``columns``; ``codes[i]`` maps the category names of column
    ``i`` to the model's codes (names not in the table, and nulls, become NaN). The matrix is
    shared with the next call on the same batch: callers must not write to it."""
    last = getattr(_LAST, "entry", None)
    if last is not None and last[0] is batch and last[1] == columns and last[2] is codes:
        matrix: npt.NDArray[np.float64] = last[3]
        return matrix
    matrix = _convert(batch, columns, codes)
    matrix.flags.writeable = False
    _LAST.entry = (batch, list(columns), codes, matrix)
    return matrix


SMALL_ROWS = 64
"""Batches up to this many rows (an online micro-batch) are converted column by column without
a polars query: a query's fixed cost (~0.1-0.2 ms) is most of the work for a few rows."""


def _convert(
    batch: pl.DataFrame, columns: Sequence[str], codes: Sequence[Codes | None] | None
) -> npt.NDArray[np.float64]:
    if batch.height <= SMALL_ROWS:
        small = _convert_small(batch, columns, codes)
        if small is not None:
            return small
    schema = batch.schema
    key = (tuple(schema.items()), tuple(columns), id(codes))
    cached = _EXPRESSIONS.get(key)
    if cached is None or cached[0] is not codes:
        exprs = [
            _numeric_expr(schema[name], name, codes[i] if codes else None).alias(f"c{i}")
            for i, name in enumerate(columns)
        ]
        if len(_EXPRESSIONS) >= 64:
            _EXPRESSIONS.clear()
        cached = _EXPRESSIONS[key] = (codes, exprs)
    matrix = batch.select(cached[1]).to_numpy(order="c")
    return np.ascontiguousarray(matrix, dtype=np.float64)


def _convert_small(
    batch: pl.DataFrame, columns: Sequence[str], codes: Sequence[Codes | None] | None
) -> npt.NDArray[np.float64] | None:
    """:func:`_convert` of a few rows, each column on its own: the same values as the query of
    :func:`_numeric_expr` (a differential test holds them equal), or ``None`` for a column type
    the short path leaves to the query (text without codes, dates, lists...)."""
    matrix = np.empty((batch.height, len(columns)), dtype=np.float64)
    for index, name in enumerate(columns):
        series = batch.get_column(name)
        dtype = series.dtype
        table = codes[index] if codes else None
        if dtype == pl.String and table is not None:
            nan = math.nan
            matrix[:, index] = [
                nan if value is None else table.get(value, nan) for value in series.to_list()
            ]
        elif dtype.is_numeric() or dtype == pl.Boolean:
            if series.null_count() or dtype == pl.Boolean or dtype.is_decimal():
                series = series.cast(pl.Float64, strict=False)
            matrix[:, index] = series.to_numpy()
        else:
            return None
    return matrix


def _numeric_expr(dtype: pl.DataType, name: str, codes: Codes | None) -> pl.Expr:
    column = pl.col(name)
    textual = dtype in (pl.String, pl.Categorical) or isinstance(dtype, pl.Enum)
    if codes is not None and textual:
        return column.cast(pl.String).replace_strict(
            dict(codes), default=None, return_dtype=pl.Float64
        )
    if textual:
        return column.cast(pl.String).cast(pl.Float64, strict=False)
    if isinstance(dtype, pl.Datetime | pl.Date):
        return column.dt.epoch("s").cast(pl.Float64)
    return column.cast(pl.Float64, strict=False)


def pandas_frame(
    batch: pl.DataFrame, columns: Sequence[str], *, ints_as_float: bool = True
) -> pd.DataFrame:
    """A pandas DataFrame of ``columns`` as scikit-learn pipelines expect them: numbers as
    float64 (nulls as NaN), booleans as 0/1 floats, text as strings with NaN for missing.
    With ``ints_as_float=False`` integer columns without nulls stay int64 (for MLflow schemas,
    which refuse float for an integer column)."""
    exprs: list[pl.Expr] = []
    for name in columns:
        dtype = batch.schema[name]
        if not ints_as_float and dtype.is_integer():
            exprs.append(pl.col(name))
        elif dtype.is_numeric() or dtype == pl.Boolean:
            exprs.append(pl.col(name).cast(pl.Float64))
        elif isinstance(dtype, pl.Categorical | pl.Enum):
            exprs.append(pl.col(name).cast(pl.String))
        else:
            exprs.append(pl.col(name))
    return batch.select(exprs).to_pandas()
