"""The short path for clean online records agrees with the full input-contract check."""

from __future__ import annotations

import math
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from doorstep.core.contract import frame_from_records, validate_batch
from doorstep.core.records import MAX_CLEAN_ROWS, validate_clean
from doorstep.core.spec.models import InputsSpec

INPUTS = InputsSpec.model_validate(
    {
        "id": "customer_id",
        "fields": {
            "tenure": {"type": "int", "min": 0, "max": 600},
            "spend": {"type": "float", "min": 0},
            "ratio": {"type": "float", "required": False},
            "tickets": {"type": "int", "required": False},
            "autopay": {"type": "bool"},
            "plan": {"type": "category", "values": ["basic", "plus", "premium"]},
            "region": {"type": "category", "values": ["north", "south"], "required": False},
            # a bool column as pandas' astype(str) writes it: booleans are mapped onto it
            "paperless": {"type": "category", "values": ["False", "True"], "required": False},
            "promo": {"type": "category", "values": ["true", "none"], "required": False},
            "note": {"type": "string", "required": False},
        },
    }
)
CLEAN = {
    "customer_id": "C-1",
    "tenure": 12,
    "spend": 49.5,
    "ratio": None,
    "tickets": 2,
    "autopay": True,
    "plan": "premium",
    "region": "north",
    "paperless": "True",
    "promo": None,
    "note": "",
}
ABSENT = object()

values = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**64), max_value=2**64),
    st.sampled_from([0, 1, 600, 601, -1, 2**53, 2**53 + 1, 2**63 - 1, 2**63]),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([0.0, 12.0, 600.0, 600.5, -0.0, 1e300]),
    st.sampled_from(["", " ", "basic", "premium", "Premium", "premium ", "12", "1.5", "true"]),
    st.sampled_from(["True", "False", "false", "TRUE", "none"]),
    st.text(max_size=5),
    st.lists(st.integers(), max_size=2),
)


@st.composite
def records(draw: st.DrawFn) -> list[Any]:
    """Records that start clean and have a few values replaced by anything JSON can carry."""
    out: list[Any] = []
    for i in range(draw(st.integers(1, 6))):
        record: dict[str, Any] = {**CLEAN, "customer_id": f"C-{i}"}
        for name in draw(st.lists(st.sampled_from(list(CLEAN)), max_size=3, unique=True)):
            value = draw(st.one_of(values, st.just(ABSENT)))
            if value is ABSENT:
                del record[name]
            else:
                record[name] = value
        out.append(record)
    return out


@settings(max_examples=400, deadline=None)
@given(records())
def test_the_short_path_only_accepts_what_the_full_check_accepts_and_types_it_alike(
    batch: list[dict[str, Any]],
) -> None:
    _compare(batch)


EDGES: list[Any] = [
    None,
    ABSENT,
    True,
    False,
    0,
    1,
    -1,
    12,
    600,
    601,
    2**53,
    2**53 + 1,
    2**63 - 1,
    2**63,
    0.0,
    -0.0,
    0.5,
    12.0,
    600.0,
    600.5,
    -0.5,
    math.nan,
    math.inf,
    -math.inf,
    1e300,
    "",
    " ",
    "12",
    "1.5",
    "true",
    "True",
    "False",
    "false",
    "basic",
    "premium",
    "Premium",
    "premium ",
    "north",
    "C-9",
    [1],
    {"a": 1},
]


def _compare(batch: list[dict[str, Any]]) -> bool:
    """Whether the short path took the batch; if it did, it must agree with the full check."""
    fast = validate_clean(batch, INPUTS, row_offset=5)
    if fast is None:
        return False
    full = validate_batch(frame_from_records(batch, INPUTS), INPUTS, row_offset=5)
    assert full.rejects.height == 0, full.rejects["message"].to_list()
    assert_frame_equal(fast.valid, full.valid)
    assert fast.rejects.schema == full.rejects.schema
    return True


def test_every_edge_value_in_every_field_is_judged_like_the_full_check() -> None:
    taken = 0
    for name in CLEAN:
        for value in EDGES:
            record = {k: v for k, v in CLEAN.items() if k != name}
            if value is not ABSENT:
                record[name] = value
            taken += _compare([record, CLEAN])
    assert taken >= 40  # the short path does take the clean edits, not only refuse


def test_clean_records_take_the_short_path() -> None:
    batch = [
        CLEAN,
        {**CLEAN, "customer_id": "C-2", "spend": 3, "ratio": -0.5, "plan": "basic"},
        {"customer_id": "C-3", "tenure": 0, "spend": 0.0, "autopay": False, "plan": "plus"},
    ]
    fast = validate_clean(batch, INPUTS)
    assert fast is not None
    assert fast.valid["_row"].to_list() == [1, 2, 3]
    assert fast.valid["spend"].to_list() == [49.5, 3.0, 0.0]
    assert fast.valid["tickets"].to_list() == [2, 2, None]
    assert_frame_equal(fast.valid, validate_batch(frame_from_records(batch, INPUTS), INPUTS).valid)


def test_anything_doubtful_goes_to_the_full_check() -> None:
    doubtful: list[dict[str, Any]] = [
        {"tenure": "12"},  # text for an int: the full check converts it
        {"tenure": 601},  # breaks max
        {"spend": math.nan},  # NaN counts as missing
        {"spend": math.inf},
        {"spend": 2**53 + 1},  # would round
        {"plan": "Premium"},  # not an allowed value
        {"autopay": 1},  # a number for a bool
        {"customer_id": ""},
        {"customer_id": 17},
        {"region": ""},  # an empty category is missing
    ]
    for change in doubtful:
        assert validate_clean([CLEAN, {**CLEAN, **change}], INPUTS) is None, change
    assert validate_clean([{k: v for k, v in CLEAN.items() if k != "plan"}], INPUTS) is None
    assert validate_clean(["not a record"], INPUTS) is None
    assert validate_clean([CLEAN] * (MAX_CLEAN_ROWS + 1), INPUTS) is None


def test_booleans_for_categories_spelling_them_take_the_short_path_alike() -> None:
    batch = [
        {**CLEAN, "paperless": True, "promo": True},
        {**CLEAN, "customer_id": "C-2", "paperless": False},
        {**CLEAN, "customer_id": "C-3", "paperless": "False"},
    ]
    assert _compare(batch)
    fast = validate_clean(batch, INPUTS)
    assert fast is not None
    assert fast.valid["paperless"].to_list() == ["True", "False", "False"]
    assert fast.valid["promo"].to_list() == ["true", None, None]
    # false has no category in promo: the full check words the error
    assert validate_clean([{**CLEAN, "promo": False}], INPUTS) is None
    full = validate_batch(frame_from_records([{**CLEAN, "promo": False}], INPUTS), INPUTS)
    assert full.rejects["rule"].to_list() == ["allowed_values"]


def test_datetime_fields_are_left_to_the_full_check() -> None:
    inputs = InputsSpec.model_validate(
        {"id": "id", "fields": {"seen": {"type": "datetime", "required": False}}}
    )
    assert validate_clean([{"id": "a", "seen": None}], inputs) is None
