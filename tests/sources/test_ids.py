"""Entity ids are checked once, before any source is asked: what passes, in which form, and
what is refused with a sentence that says why."""

from __future__ import annotations

import re
from typing import Any

import pytest

from doorstep.sources.ids import MAX_ID_LENGTH, entity_text, source_id


@pytest.mark.parametrize(
    ("value", "text"),
    [
        ("C-0001", "C-0001"),
        ("Zoë 42", "Zoë 42"),
        (20001, "20001"),
        (-7, "-7"),
        (20001.0, "20001"),
        ("x" * MAX_ID_LENGTH, "x" * MAX_ID_LENGTH),
    ],
)
def test_ids_sources_can_be_asked_for(value: Any, text: str) -> None:
    assert entity_text(value) == text


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("C-1\x00", "control character U+0000 at position 3"),
        ("a\nb", "U+000A"),
        ("a\x7fb", "U+007F"),
        ("\ud800", "U+D800"),
        ("x" * (MAX_ID_LENGTH + 1), f"is {MAX_ID_LENGTH + 1} characters long"),
        (True, "is a boolean"),
        (20001.5, "is the number 20001.5"),
        (float("nan"), "is the number nan"),
        (2.0**60, "is the number"),
        ({"id": 1}, "is a JSON object"),
        ([1], "is a JSON array"),
    ],
)
def test_ids_no_source_is_asked_for(value: Any, problem: str) -> None:
    with pytest.raises(ValueError, match=re.escape(problem)):
        entity_text(value)


def test_int_sources_take_the_canonical_text_of_a_64_bit_integer() -> None:
    assert source_id("007", "int") == "7"
    assert source_id("-9223372036854775808", "int") == "-9223372036854775808"
    assert source_id("9223372036854775807", "int") == "9223372036854775807"
    assert source_id("C-1", "string") == "C-1"
    for bad in ("9223372036854775808", "99999999999999999999", "-9223372036854775809"):
        with pytest.raises(ValueError, match="beyond the 64-bit integers"):
            source_id(bad, "int")
    for bad in ("C-1", " 1", "1_000", "1e3", "", "+1", "١٢"):
        with pytest.raises(ValueError, match="is not an integer"):
            source_id(bad, "int")
