"""The entities of a run, whole: rows of one id never straddle two chunks, and an id with more
than one row is refused, every row of it."""

from __future__ import annotations

from doorstep.services.runs.entities import AMBIGUOUS, ambiguous_rows, whole_entities
from doorstep.sources.base import FeatureRow


def rows(*ids: str) -> list[tuple[str, FeatureRow]]:
    return [(i, FeatureRow({"n": n}, None)) for n, i in enumerate(ids)]


def ids(chunks: list[list[tuple[str, FeatureRow]]]) -> list[list[str]]:
    return [[entity for entity, _ in chunk] for chunk in chunks]


def test_the_rows_of_an_id_that_straddles_chunks_stay_together() -> None:
    scanned = [rows("a", "b", "c"), rows("c", "d", "e"), rows("e", "e", "e"), rows("e", "f"), []]
    assert ids(list(whole_entities(scanned))) == [
        ["a", "b"],
        ["c", "c", "d"],
        ["e", "e", "e", "e", "e"],
        ["f"],
    ]


def test_every_row_comes_out_once_and_in_order() -> None:
    scanned = [rows("a", "a"), rows("a"), [], rows("b", "c", "c"), rows("d")]
    chunks = list(whole_entities(scanned))
    assert ids(chunks) == [["a", "a", "a", "b"], ["c", "c"], ["d"]]
    assert list(whole_entities([])) == []


def test_each_row_of_a_repeated_id_is_refused() -> None:
    chunk = rows("a", "b", "b", "c", "d", "d", "d")
    repeated, errors = ambiguous_rows(chunk, "customer_id", "customer_db")
    assert repeated == {"b", "d"}
    assert [(e.entity_id, e.field, e.rule) for e in errors] == [
        ("b", "customer_id", AMBIGUOUS),
        ("b", "customer_id", AMBIGUOUS),
        *[("d", "customer_id", AMBIGUOUS)] * 3,
    ]
    assert "'d' has 3 rows in feature source 'customer_db'" in errors[-1].message
    assert ambiguous_rows(rows("a", "b"), "customer_id", "s") == (set(), [])
