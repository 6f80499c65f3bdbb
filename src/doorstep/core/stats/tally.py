"""Reading a window or a reference in batches, and what one pass over them keeps per column.

Numeric columns keep their finite values (compared whole, exactly); categorical columns a count
per category; contribution columns a sum and a count of |value|.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TypeAlias, TypeVar

import numpy as np
import polars as pl
import pyarrow as pa

from doorstep.core.stats.drift_report import FeatureKind
from doorstep.core.stats.kernels import FloatArray
from doorstep.errors import InputError

__all__ = [
    "Batch",
    "CategoricalTally",
    "Data",
    "FeatureKind",
    "MeanAbsTally",
    "NumericTally",
    "cpu_count",
    "iter_batches",
    "kind_of",
    "run_all",
]

Batch: TypeAlias = pl.DataFrame | pa.Table | pa.RecordBatch
Data: TypeAlias = Batch | pl.LazyFrame | Iterable[Batch]
"""A frame, a lazy frame (read in batches) or any iterable of batches."""


# --- reading data in batches ------------------------------------------------------------------


def iter_batches(data: Data, columns: Sequence[str]) -> Iterator[pl.DataFrame]:
    """``columns`` of ``data``, batch by batch, as polars frames; a missing column is an
    :class:`InputError` naming it."""
    if isinstance(data, pl.LazyFrame):
        _check_columns(data.collect_schema().names(), columns, "data")
        yield from data.select(columns).collect_batches()
        return
    batches: Iterable[Batch] = (
        [data] if isinstance(data, pl.DataFrame | pa.Table | pa.RecordBatch) else data
    )
    for i, batch in enumerate(batches):
        frame = batch if isinstance(batch, pl.DataFrame) else pl.from_arrow(batch)
        if not isinstance(frame, pl.DataFrame):  # pragma: no cover - pl.from_arrow of a table
            raise InputError(f"batch {i}: expected a table, got {type(batch).__name__}")
        _check_columns(frame.columns, columns, f"batch {i}")
        yield frame.select(columns)


def _check_columns(present: Sequence[str], wanted: Sequence[str], where: str) -> None:
    missing = [c for c in wanted if c not in present]
    if missing:
        raise InputError(
            f"{where}: column {missing[0]!r} is missing (expected {', '.join(map(repr, wanted))}; "
            f"found {', '.join(map(repr, present)) or 'no columns'})"
        )


def kind_of(dtype: pl.DataType) -> FeatureKind:
    """Numbers are numeric; strings, categoricals, enums and booleans categorical."""
    return "numeric" if dtype.is_numeric() else "categorical"


# --- tallies: what one pass over the batches keeps -------------------------------------------


class NumericTally:
    """Rows, missing values and the finite values of one numeric column."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.rows = 0
        self.missing = 0
        self._parts: list[FloatArray] = []
        self._sorted = False

    def add(self, series: pl.Series) -> None:
        if not series.dtype.is_numeric() and series.dtype != pl.Null:
            raise InputError(
                f"column {self.name!r}: expected numbers, got {series.dtype} "
                "(declare the feature categorical, or cast the column)"
            )
        values = series.cast(pl.Float64).to_numpy()
        finite = values[np.isfinite(values)]
        self.rows += len(values)
        self.missing += len(values) - len(finite)
        self._parts.append(finite)
        self._sorted = False

    def sorted_values(self) -> FloatArray:
        """Every finite value so far, sorted (kept as one array: more batches may follow)."""
        if len(self._parts) == 1 and self._sorted:
            return self._parts[0]
        values = np.concatenate(self._parts) if self._parts else np.empty(0, dtype=np.float64)
        values.sort()
        self._parts, self._sorted = [values], True
        return values


class CategoricalTally:
    """Rows, missing values and the count of each category of one categorical column."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.rows = 0
        self.missing = 0
        self.counts: dict[str, int] = {}

    def add(self, series: pl.Series) -> None:
        self.rows += len(series)
        self.missing += series.null_count()
        counted = series.drop_nulls().cast(pl.String).value_counts()
        for value, count in counted.iter_rows():
            self.counts[value] = self.counts.get(value, 0) + count


class MeanAbsTally:
    """Sum and count of |x| of one column (a feature's contributions)."""

    def __init__(self) -> None:
        self.total = 0.0
        self.count = 0

    def add(self, series: pl.Series) -> None:
        values = series.cast(pl.Float64).to_numpy()
        finite = values[np.isfinite(values)]
        self.total += float(np.abs(finite).sum())
        self.count += len(finite)

    @property
    def mean(self) -> float | None:
        return self.total / self.count if self.count else None


T = TypeVar("T")


def run_all(jobs: Sequence[Callable[[], T]], threads: int | None) -> list[T]:
    """Run ``jobs`` (numpy work, which releases the GIL) on a thread pool; results in order."""
    count = threads if threads is not None else cpu_count()
    if count <= 1 or len(jobs) <= 1:
        return [job() for job in jobs]
    with ThreadPoolExecutor(min(count, len(jobs))) as pool:
        return list(pool.map(lambda job: job(), jobs))


def cpu_count() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not on Linux
        return os.cpu_count() or 1
