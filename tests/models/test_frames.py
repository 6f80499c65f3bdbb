"""The short path of ``numeric_matrix`` for a few rows gives the polars query's matrix exactly."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st

from doorstep.models import frames
from doorstep.models.frames import SMALL_ROWS, numeric_matrix

CODES = {"basic": 0.0, "plus": 1.0, "premium": 2.0}


def _query_matrix(batch: pl.DataFrame, columns: list[str], codes: Any) -> np.ndarray:
    """What the polars query gives (the path of batches over ``SMALL_ROWS`` rows)."""
    exprs = [
        frames._numeric_expr(batch.schema[name], name, codes[i]).alias(f"c{i}")
        for i, name in enumerate(columns)
    ]
    return np.ascontiguousarray(batch.select(exprs).to_numpy(order="c"), dtype=np.float64)


def _same(left: np.ndarray, right: np.ndarray) -> bool:
    return left.shape == right.shape and bool(
        np.all((left == right) | (np.isnan(left) & np.isnan(right)))
    )


big_ints = st.integers(min_value=-(2**63), max_value=2**63 - 1)
floats = st.floats(allow_nan=True, allow_infinity=True)


@st.composite
def batches(draw: st.DrawFn) -> pl.DataFrame:
    rows = draw(st.integers(min_value=0, max_value=SMALL_ROWS))

    def column(values: st.SearchStrategy[Any]) -> list[Any]:
        return draw(st.lists(st.one_of(st.none(), values), min_size=rows, max_size=rows))

    return pl.DataFrame(
        {
            "n": pl.Series(column(big_ints), dtype=pl.Int64),
            "x": pl.Series(column(floats), dtype=pl.Float64),
            "f32": pl.Series(column(st.floats(width=32)), dtype=pl.Float32),
            "flag": pl.Series(column(st.booleans()), dtype=pl.Boolean),
            "plan": pl.Series(
                column(st.sampled_from(["basic", "plus", "premium", "gold", ""])), dtype=pl.String
            ),
            "u8": pl.Series(column(st.integers(0, 255)), dtype=pl.UInt8),
        }
    )


@settings(max_examples=300, deadline=None)
@given(batches())
def test_small_batches_convert_as_the_query_does(batch: pl.DataFrame) -> None:
    columns = ["n", "x", "f32", "flag", "plan", "u8"]
    codes = [None, None, None, None, CODES, None]
    small = frames._convert_small(batch, columns, codes)
    assert small is not None
    assert _same(small, _query_matrix(batch, columns, codes))


def test_text_without_codes_and_dates_are_left_to_the_query() -> None:
    batch = pl.DataFrame({"text": ["1.5", " 2 "], "when": [None, None]}).with_columns(
        pl.col("when").cast(pl.Datetime("us", "UTC"))
    )
    assert frames._convert_small(batch, ["text"], None) is None
    assert frames._convert_small(batch, ["when"], None) is None
    matrix = numeric_matrix(batch, ["text", "when"])  # the query converts them
    assert matrix[0, 0] == 1.5 and math.isnan(matrix[1, 0]) and math.isnan(matrix[0, 1])


def test_numeric_matrix_takes_the_short_path_for_small_batches_only(
    monkeypatch: Any,
) -> None:
    taken: list[int] = []
    real = frames._convert_small

    def spy(batch: pl.DataFrame, columns: Any, codes: Any) -> Any:
        taken.append(batch.height)
        return real(batch, columns, codes)

    monkeypatch.setattr(frames, "_convert_small", spy)
    for rows in (1, SMALL_ROWS, SMALL_ROWS + 1):
        batch = pl.DataFrame({"n": list(range(rows)), "plan": ["plus"] * rows})
        matrix = numeric_matrix(batch, ["n", "plan"], [None, CODES])
        assert matrix.flags.c_contiguous and not matrix.flags.writeable
        assert _same(matrix, _query_matrix(batch, ["n", "plan"], [None, CODES]))
    assert taken == [1, SMALL_ROWS]
