"""One parser for every body that holds one item or many."""

from __future__ import annotations

import pytest

from doorstep.core.bodies import parse_one_or_many
from doorstep.errors import PayloadTooLargeError, RecordError, RecordsInvalidError


def parse(body: bytes, key: str = "records", noun: str = "record") -> tuple[list[object], bool]:
    return parse_one_or_many(body, key=key, noun=noun, max_items=3)


def test_one_object_or_a_list_under_the_key() -> None:
    assert parse(b'{"a": 1}') == ([{"a": 1}], True)
    assert parse(b'{"records": [{"a": 1}, 2]}') == ([{"a": 1}, 2], False)
    assert parse(b'{"outcomes": []}', key="outcomes") == ([], False)
    # the key beside other keys, or not a list: one record that happens to have such a field
    assert parse(b'{"records": [1], "b": 2}') == ([{"records": [1], "b": 2}], True)
    assert parse(b'{"records": 5}') == ([{"records": 5}], True)


def test_values_orjson_refuses_still_reach_the_contract() -> None:
    [record], _ = parse(b'{"n": 123456789012345678901234567890, "x": NaN}')
    assert isinstance(record, dict) and record["n"] == 123456789012345678901234567890
    assert record["x"] != record["x"]


@pytest.mark.parametrize(
    ("body", "rule", "words"),
    [
        (b"{nope", "json", "not valid JSON"),
        (b"\xff\xfe", "json", "not valid JSON"),
        (b"[1, 2]", "type", "must be a JSON object, got list"),
        (b'"text"', "type", "must be a JSON object, got str"),
    ],
)
def test_a_bad_body_names_the_rule_and_the_expected_shape(
    body: bytes, rule: str, words: str
) -> None:
    with pytest.raises(RecordsInvalidError) as caught:
        parse(body, key="outcomes", noun="outcome")
    assert words in caught.value.message
    assert 'Send one outcome as a JSON object, or {"outcomes": [...]}' in caught.value.message
    [error] = caught.value.errors
    assert error == RecordError(None, None, None, rule, error.message)


def test_too_many_items_are_refused_before_any_is_judged() -> None:
    with pytest.raises(PayloadTooLargeError, match="holds 4 outcomes; at most 3"):
        parse(b'{"outcomes": [1, 2, 3, 4]}', key="outcomes", noun="outcome")
