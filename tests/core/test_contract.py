"""The input contract: typing, every rule, reject rows and messages, records, never a crash."""
# ruff: noqa: E501  (the case tables read best one case a line)

from __future__ import annotations

import datetime as dt
from typing import Any

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from doorstep.core.contract import (
    REJECT_SCHEMA,
    ROW_COLUMN,
    frame_from_records,
    valid_schema,
    validate_batch,
)
from doorstep.core.spec.models import InputsSpec
from doorstep.errors import InputError

UTC = dt.UTC


def spec(**fields: dict[str, Any]) -> InputsSpec:
    return InputsSpec.model_validate({"id": "customer_id", "fields": fields})


CHURN = spec(
    tenure_months={"type": "int", "min": 0, "max": 600},
    plan={"type": "category", "values": ["basic", "plus", "premium"]},
    monthly_spend={"type": "float", "min": 0},
    active={"type": "bool"},
    signup={"type": "datetime", "required": False},
    email={"type": "string", "required": False},
)


def one_field(field: dict[str, Any], values: pl.Series) -> tuple[list[Any], list[tuple[Any, ...]]]:
    """Validate a single field ``x``; return its valid values and (row, rule, value) rejects."""
    frame = pl.DataFrame({"customer_id": [f"C{i}" for i in range(values.len())], "x": values})
    batch = validate_batch(frame, spec(x=field))
    rejects = batch.rejects.select("row", "rule", "value").rows()
    return batch.valid["x"].to_list(), rejects


# -- typing and rules, per type --------------------------------------------------------------

CASES = [
    # (field, input series, valid values, rejects as (row, rule, value))
    ({"type": "int"}, pl.Series([1, 2, 3]), [1, 2, 3], []),
    ({"type": "int"}, pl.Series([1, 2], dtype=pl.Int8), [1, 2], []),
    ({"type": "int"}, pl.Series([2**64 - 1, 1], dtype=pl.UInt64), [1], [(1, "type", "18446744073709551615")]),
    ({"type": "int"}, pl.Series([3.0, 3.5, float("nan"), float("inf")]), [3], [(2, "type", "3.5"), (3, "required", None), (4, "type", "inf")]),
    ({"type": "int"}, pl.Series(["12", " 13 ", "3.0", "3.5", "x", "", None]), [12, 13, 3], [(4, "type", "3.5"), (5, "type", "x"), (6, "required", None), (7, "required", None)]),
    ({"type": "int"}, pl.Series([True, False]), [], [(1, "type", "true"), (2, "type", "false")]),
    ({"type": "int", "required": False}, pl.Series(["1", "", None, "x"]), [1, None, None], [(4, "type", "x")]),
    ({"type": "int", "min": 0, "max": 10}, pl.Series([-1, 0, 10, 11, None]), [0, 10], [(1, "min", "-1"), (4, "max", "11"), (5, "required", None)]),
    ({"type": "float"}, pl.Series([1.5, float("nan"), None, float("-inf")]), [1.5], [(2, "required", None), (3, "required", None), (4, "type", "-inf")]),
    ({"type": "float", "required": False}, pl.Series([1.5, float("nan"), None]), [1.5, None, None], []),
    ({"type": "float"}, pl.Series([1, 2], dtype=pl.Int32), [1.0, 2.0], []),
    ({"type": "float"}, pl.Series(["1.5", "1e3", "nan", "inf", "1,5", ""]), [1.5, 1000.0], [(3, "required", None), (4, "type", "inf"), (5, "type", "1,5"), (6, "required", None)]),
    ({"type": "float", "min": 0.5}, pl.Series([0.4, 0.5]), [0.5], [(1, "min", "0.4")]),
    ({"type": "bool"}, pl.Series([True, False, None]), [True, False], [(3, "required", None)]),
    ({"type": "bool"}, pl.Series(["true", "FALSE", "Yes", "no", "1", "0", "maybe", " "]), [True, False, True, False, True, False], [(7, "type", "maybe"), (8, "required", None)]),
    ({"type": "bool"}, pl.Series([1, 0, 2]), [True, False], [(3, "type", "2")]),
    ({"type": "bool"}, pl.Series([1.0, 0.0, 0.5]), [True, False], [(3, "type", "0.5")]),
    ({"type": "category", "values": ["a", "b"]}, pl.Series(["a", "b", "c", "", None]), ["a", "b"], [(3, "allowed_values", "c"), (4, "required", None), (5, "required", None)]),
    ({"type": "category", "values": ["a", "b"]}, pl.Series(["a", "c"], dtype=pl.Categorical), ["a"], [(2, "allowed_values", "c")]),
    ({"type": "category", "values": ["1", "2"]}, pl.Series([1, 2, 3]), ["1", "2"], [(3, "allowed_values", "3")]),
    ({"type": "category", "values": ["1", "2"]}, pl.Series([1.0, 2.0, float("nan")]), ["1", "2"], [(3, "required", None)]),
    ({"type": "category", "values": [str(i) for i in range(20)]}, pl.Series(["3", "30"]), ["3"], [(2, "allowed_values", "30")]),
    # booleans reach the categories that spell them (pandas' astype(str) writes "True"/"False")
    ({"type": "category", "values": ["False", "True"]}, pl.Series([True, False, None]), ["True", "False"], [(3, "required", None)]),
    ({"type": "category", "values": ["true", "false"]}, pl.Series([True, False]), ["true", "false"], []),
    ({"type": "category", "values": ["True", "unknown"]}, pl.Series([True, False]), ["True"], [(2, "allowed_values", "false")]),
    ({"type": "category", "values": ["a", "b"]}, pl.Series([True]), [], [(1, "allowed_values", "true")]),
    ({"type": "category", "values": ["a"], "required": False}, pl.Series(["a", None, "b"]), ["a", None], [(3, "allowed_values", "b")]),
    ({"type": "string"}, pl.Series(["x", "", None]), ["x", ""], [(3, "required", None)]),
    ({"type": "string"}, pl.Series([12345, 7]), ["12345", "7"], []),
    ({"type": "string", "required": False}, pl.Series([1.5, float("nan")]), ["1.5", None], []),
    ({"type": "string"}, pl.Series([[1, 2]]), ["[1, 2]"], []),
    ({"type": "datetime"}, pl.Series(["2024-05-01T10:00:00Z", "2024-05-01", "2024-05-01 10:00", "2024-05-01T12:00:00+02:00", "bad", ""]),
     [dt.datetime(2024, 5, 1, 10, tzinfo=UTC), dt.datetime(2024, 5, 1, tzinfo=UTC), dt.datetime(2024, 5, 1, 10, tzinfo=UTC), dt.datetime(2024, 5, 1, 10, tzinfo=UTC)],
     [(5, "type", "bad"), (6, "required", None)]),
    ({"type": "datetime"}, pl.Series([dt.datetime(2024, 5, 1, 10)]), [dt.datetime(2024, 5, 1, 10, tzinfo=UTC)], []),
    ({"type": "datetime"}, pl.Series([dt.datetime(2024, 5, 1, 12)]).dt.replace_time_zone("Europe/Paris"), [dt.datetime(2024, 5, 1, 10, tzinfo=UTC)], []),
    ({"type": "datetime"}, pl.Series([dt.date(2024, 5, 1)]), [dt.datetime(2024, 5, 1, tzinfo=UTC)], []),
    ({"type": "datetime"}, pl.Series([1.5]), [], [(1, "type", "1.5")]),
    ({"type": "int", "required": False}, pl.Series([None, None], dtype=pl.Null), [None, None], []),
    ({"type": "int"}, pl.Series([None], dtype=pl.Null), [], [(1, "required", None)]),
]  # fmt: skip


@pytest.mark.parametrize(("field", "values", "valid", "rejects"), CASES)
def test_typing_and_rules(
    field: dict[str, Any], values: pl.Series, valid: list[Any], rejects: list[tuple[Any, ...]]
) -> None:
    assert one_field(field, values) == (valid, rejects)


def test_valid_frame_has_the_ports_dtypes_in_spec_order() -> None:
    frame = pl.DataFrame(
        {
            "email": ["a@x.org"],
            "customer_id": [7],
            "plan": ["plus"],
            "tenure_months": ["3"],
            "monthly_spend": [9],
            "active": ["yes"],
            "signup": ["2024-01-01"],
            "unused": [1],
        }
    )
    batch = validate_batch(frame, CHURN)
    assert batch.valid.schema == pl.Schema(valid_schema(CHURN))
    assert batch.valid.columns == [ROW_COLUMN, "customer_id", *CHURN.fields]
    assert batch.valid.row(0) == (
        1, "7", 3, "plus", 9.0, True, dt.datetime(2024, 1, 1, tzinfo=UTC), "a@x.org"
    )  # fmt: skip
    assert batch.rejects.schema == pl.Schema(REJECT_SCHEMA)
    assert batch.rejects.height == 0


def test_reject_rows_and_messages() -> None:
    frame = pl.DataFrame(
        {
            "customer_id": ["C-0041", "C-0042", None, ""],
            "tenure_months": ["12", "-3", "3.5", "1"],
            "plan": ["basic", "premum", "plus", "plus"],
            "monthly_spend": [1.0, 2.0, None, 1.0],
            "active": [True, True, True, True],
        }
    )
    batch = validate_batch(frame, CHURN, row_offset=16)
    assert batch.valid[ROW_COLUMN].to_list() == [17]
    assert batch.rejects.rows() == [
        (18, "C-0042", "tenure_months", "min", "-3",
         "row 18 (customer_id=C-0042): tenure_months must be >= 0, got -3"),
        (18, "C-0042", "plan", "allowed_values", "premum",
         "row 18 (customer_id=C-0042): plan must be one of 'basic', 'plus', 'premium', "
         "got 'premum' (did you mean 'premium'?)"),
        (19, None, "customer_id", "id_required", None,
         "row 19: customer_id is required but missing: every record needs an id"),
        (19, None, "tenure_months", "type", "3.5",
         "row 19: tenure_months must be an integer, got '3.5'"),
        (19, None, "monthly_spend", "required", None,
         "row 19: monthly_spend is required but missing"),
        (20, None, "customer_id", "id_required", None,
         "row 20: customer_id is required but missing: every record needs an id"),
    ]  # fmt: skip
    assert batch.rows == 4


def test_float_ids_lose_their_decimal_point() -> None:
    frame = pl.DataFrame({"customer_id": [7.0, 7.5, float("nan")], "x": [1, 2, 3]})
    batch = validate_batch(frame, spec(x={"type": "int"}))
    assert batch.valid["customer_id"].to_list() == ["7", "7.5"]
    assert batch.rejects["rule"].to_list() == ["id_required"]


def test_long_category_lists_are_shortened_in_messages() -> None:
    values = [f"v{i}" for i in range(15)]
    frame = pl.DataFrame({"customer_id": ["a"], "x": ["zz"]})
    message = validate_batch(frame, spec(x={"type": "category", "values": values})).rejects.item(
        0, "message"
    )
    assert "'v9', ... (15 in all), got 'zz'" in message


def test_type_error_messages_name_the_expected_type() -> None:
    frame = pl.DataFrame(
        {"customer_id": ["a"], "b": ["maybe"], "d": ["soon"], "f": ["inf"], "c": [2.5]}
    )
    inputs = spec(
        b={"type": "bool"},
        d={"type": "datetime"},
        f={"type": "float"},
        c={"type": "category", "values": ["1", "2"]},
    )
    messages = validate_batch(frame, inputs).rejects["message"].to_list()
    assert messages == [
        "row 1 (customer_id=a): b must be true or false (true/false, yes/no, 1/0), got 'maybe'",
        "row 1 (customer_id=a): d must be an ISO 8601 date or date-time such as "
        "2024-05-01T10:00:00Z, got 'soon'",
        "row 1 (customer_id=a): f must be a finite number, got 'inf'",
        "row 1 (customer_id=a): c must be one of '1', '2', got '2.5'",
    ]


# -- columns ---------------------------------------------------------------------------------


def test_missing_required_column_raises_with_suggestion() -> None:
    frame = pl.DataFrame({"customer_id": ["a"], "tenure_month": [1]})
    with pytest.raises(InputError) as info:
        validate_batch(frame, CHURN)
    message = info.value.message
    assert "'tenure_months' (did you mean 'tenure_month'?)" in message
    assert "'plan'" in message and "'monthly_spend'" in message and "'active'" in message
    assert "Columns found: 'customer_id', 'tenure_month'" in message
    assert "'signup'" not in message  # optional


def test_missing_id_column_raises() -> None:
    with pytest.raises(InputError, match=r"'customer_id' \(the id\) \(did you mean 'customerid'"):
        validate_batch(pl.DataFrame({"customerid": ["a"], "x": [1]}), spec(x={"type": "int"}))


def test_absent_optional_column_is_filled_with_nulls() -> None:
    inputs = spec(x={"type": "int"}, y={"type": "datetime", "required": False})
    batch = validate_batch(pl.DataFrame({"customer_id": ["a"], "x": [1]}), inputs)
    assert batch.valid["y"].to_list() == [None]
    assert batch.valid.schema["y"] == pl.Datetime("us", "UTC")


def test_empty_frame() -> None:
    frame = pl.DataFrame(schema={"customer_id": pl.String, "x": pl.Int64})
    batch = validate_batch(frame, spec(x={"type": "int"}))
    assert batch.valid.height == 0 and batch.rejects.height == 0
    assert batch.valid.columns == [ROW_COLUMN, "customer_id", "x"]


# -- records (online requests) ---------------------------------------------------------------


def test_frame_from_records_keeps_mixed_values_for_type_errors() -> None:
    records = [
        {"customer_id": 1, "tenure_months": 3, "plan": "basic", "monthly_spend": 2,
         "active": True, "junk": object()},
        {"customer_id": "C-2", "tenure_months": "x", "plan": 2, "monthly_spend": 2.5,
         "active": "yes", "email": {"a": 1}},
        {"customer_id": "C-3", "tenure_months": 3.0, "plan": "plus", "monthly_spend": None,
         "active": 1, "signup": "2024-01-01"},
    ]  # fmt: skip
    frame = frame_from_records(records, CHURN)
    assert frame.columns == ["customer_id", *CHURN.fields]
    assert frame["email"].to_list() == [None, '{"a": 1}', None]
    batch = validate_batch(frame, CHURN)
    assert batch.valid["customer_id"].to_list() == ["1"]
    assert batch.rejects.select("row", "field", "rule", "value").rows() == [
        (2, "tenure_months", "type", "x"),
        (2, "plan", "allowed_values", "2"),
        (3, "monthly_spend", "required", None),
    ]


def test_frame_from_records_types() -> None:
    inputs = spec(
        a={"type": "int"}, b={"type": "float"}, c={"type": "bool"}, d={"type": "datetime"}
    )
    records = [
        {"customer_id": "x", "a": 2**70, "b": 1, "c": True, "d": dt.datetime(2024, 1, 1)},
        {"customer_id": "y", "a": 1, "b": 2.5, "c": None, "d": dt.datetime(2024, 1, 2)},
    ]
    frame = frame_from_records(records, inputs)
    assert frame.schema["a"] == pl.String  # too large for Int64: kept as text
    assert frame.schema["b"] == pl.Float64
    assert frame.schema["c"] == pl.Boolean
    assert frame.schema["d"] == pl.Datetime("us")
    batch = validate_batch(frame, inputs)
    assert batch.rejects.select("row", "field", "rule").rows() == [
        (1, "a", "type"),
        (2, "c", "required"),
    ]
    assert frame_from_records([], inputs).height == 0


# -- never a crash, every row accounted for --------------------------------------------------

CELLS = st.one_of(
    st.none(),
    st.text(max_size=6),
    st.sampled_from(["1", "0", "yes", "2024-05-01", "basic", "nan", "inf", "-3", "3.5", ""]),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.booleans(),
)
FIELDS: dict[str, dict[str, Any]] = {
    "i": {"type": "int", "min": -5, "max": 5},
    "f": {"type": "float", "required": False, "max": 1e6},
    "b": {"type": "bool"},
    "c": {"type": "category", "values": ["basic", "1", "plus"]},
    "s": {"type": "string", "required": False},
    "d": {"type": "datetime", "required": False},
}


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    rows=st.lists(st.fixed_dictionaries({k: CELLS for k in ["customer_id", *FIELDS]}), max_size=8),
    offset=st.integers(min_value=0, max_value=10**6),
    as_text=st.booleans(),
)
def test_any_records_never_crash_and_every_row_is_accounted_for(
    rows: list[dict[str, Any]], offset: int, as_text: bool
) -> None:
    inputs = spec(**FIELDS)
    frame = frame_from_records(rows, inputs)
    if as_text:  # as read from a CSV file: every column text
        frame = frame.with_columns(pl.all().cast(pl.String, strict=False))
    batch = validate_batch(frame, inputs, row_offset=offset)
    valid_rows = set(batch.valid[ROW_COLUMN].to_list())
    rejected_rows = set(batch.rejects["row"].to_list())
    assert valid_rows.isdisjoint(rejected_rows)
    assert valid_rows | rejected_rows == set(range(offset + 1, offset + len(rows) + 1))
    assert batch.valid.schema == pl.Schema(valid_schema(inputs))
    assert batch.rejects.schema == pl.Schema(REJECT_SCHEMA)
    assert batch.rejects["message"].null_count() == 0
    assert set(batch.rejects["rule"]) <= {
        "required", "type", "min", "max", "allowed_values", "id_required"
    }  # fmt: skip
    for column in ("f",):
        values = batch.valid[column].drop_nulls()
        assert not values.is_nan().any() and not values.is_infinite().any()


@settings(max_examples=60, deadline=None)
@given(
    columns=st.lists(
        st.one_of(
            st.lists(st.one_of(st.none(), st.text(max_size=5)), min_size=5, max_size=5).map(
                lambda v: pl.Series(v, dtype=pl.String)
            ),
            st.lists(st.one_of(st.none(), st.floats()), min_size=5, max_size=5).map(
                lambda v: pl.Series(v, dtype=pl.Float64)
            ),
            st.lists(st.one_of(st.none(), st.integers(-10, 10)), min_size=5, max_size=5).map(
                lambda v: pl.Series(v, dtype=pl.Int64)
            ),
        ),
        min_size=7,
        max_size=7,
    )
)
def test_any_typed_columns_never_crash(columns: list[pl.Series]) -> None:
    inputs = spec(**FIELDS)
    names = ["customer_id", *FIELDS]
    frame = pl.DataFrame({name: col for name, col in zip(names, columns, strict=True)})
    batch = validate_batch(frame, inputs)
    accounted = set(batch.valid[ROW_COLUMN]) | set(batch.rejects["row"])
    assert accounted == {1, 2, 3, 4, 5}


def test_json_booleans_reach_the_categories_that_spell_them() -> None:
    inputs = spec(paperless={"type": "category", "values": ["False", "True"]})
    records: list[dict[str, Any]] = [
        {"customer_id": "C1", "paperless": True},
        {"customer_id": "C2", "paperless": False},
        {"customer_id": "C3", "paperless": "True"},  # booleans and their text mix
    ]
    batch = validate_batch(frame_from_records(records, inputs), inputs)
    assert batch.rejects.height == 0, batch.rejects["message"].to_list()
    assert batch.valid["paperless"].to_list() == ["True", "False", "True"]
