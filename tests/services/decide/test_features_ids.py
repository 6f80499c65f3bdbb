"""Entity ids before any source is asked: a bad id refuses its own record and never fails the
others of its micro-batch (PostgreSQL refuses a NUL byte or a number beyond 64 bits for the
whole statement it is bound in); numeric JSON ids are looked up; a source that refuses an id
as data is split until the id at fault is alone."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from tests.services.decide.test_features import spec_with

from doorstep.errors import EntityIdRefusedError
from doorstep.services.decide.features import FeatureLookup
from doorstep.sources.base import FeatureRow


def int_table(url: str, rows: int) -> None:
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                "CREATE TABLE customer_features (customer_id BIGINT PRIMARY KEY, "
                "tenure_months INT, plan VARCHAR(16), autopay INT)"
            )
        )
        conn.execute(
            sa.text("INSERT INTO customer_features VALUES (:id, :t, 'plus', 1)"),
            [{"id": 20_000 + i, "t": i} for i in range(rows)],
        )
    engine.dispose()


def open_lookup(url: str, tmp_path: Path, **settings: Any) -> FeatureLookup:
    source = {
        "type": "sql",
        "url": url,
        "table": "customer_features",
        "columns": ["tenure_months", "plan", "autopay"],
        **settings,
    }
    lookup = FeatureLookup.open(spec_with({"db": source}), tmp_path)
    assert lookup is not None
    return lookup


def test_bad_ids_refuse_their_records_alone_on_postgresql(pg_url: str, tmp_path: Path) -> None:
    int_table(pg_url, 60)
    lookup = open_lookup(pg_url, tmp_path, id_type="int")
    records: list[dict[str, Any]] = [{"customer_id": str(20_000 + i)} for i in range(60)]
    bad = {
        3: "99999999999999999999",  # beyond 64 bits: PostgreSQL's 'bigint out of range'
        11: "200\x0011",  # NUL: 'text fields cannot contain NUL bytes'
        17: "C-17",  # no integer at all
        29: True,  # no id
        41: 20_041.5,
        53: "9" * 100_000,  # too long: echoed back cut short
    }
    for position, entity in bad.items():
        records[position] = {"customer_id": entity}
    records[50] = {"customer_id": 20_050}  # a JSON number is an id
    records[51] = {"customer_id": 20_051.0}  # a whole float, as the contract reads it
    records[52] = {"customer_id": "0020052"}  # the same integer as the table's
    try:
        result = lookup.enrich(records)
    finally:
        lookup.close()
    assert result.failed == {}
    assert sorted(result.errors) == sorted(bad)
    for position in bad:
        [error] = result.errors[position]
        assert (error.record, error.field, error.rule) == (position, "customer_id", "id_invalid")
        assert "cannot be looked up: the id" in error.message
    assert "beyond the 64-bit integers" in result.errors[3][0].message
    assert "control character U+0000" in result.errors[11][0].message
    assert "'db'" in result.errors[17][0].message  # the source whose id type it breaks
    for position in (0, 50, 51, 52):
        assert result.records[position]["tenure_months"] == position
    assert result.records[50]["customer_id"] == 20_050  # the record keeps its own id
    assert result.looked_up == 54
    assert len(result.errors[53][0].entity_id or "") == 257
    assert len(result.errors[53][0].message) < 300


def test_a_nul_id_on_a_text_key_refuses_its_record_alone(pg_url: str, tmp_path: Path) -> None:
    engine = sa.create_engine(pg_url)
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                "CREATE TABLE customer_features (customer_id TEXT, tenure_months INT, "
                "plan TEXT, autopay INT)"
            )
        )
        conn.execute(sa.text("INSERT INTO customer_features VALUES ('20001', 4, 'basic', 0)"))
    engine.dispose()
    lookup = open_lookup(pg_url, tmp_path)
    try:
        result = lookup.enrich([{"customer_id": "20001\x00"}, {"customer_id": 20001}])
    finally:
        lookup.close()
    assert result.failed == {} and list(result.errors) == [0]
    assert result.errors[0][0].rule == "id_invalid"
    assert result.records[1]["tenure_months"] == 4  # a numeric id, looked up as its text


class PickySource:
    """A plugin's source whose backend refuses any id holding 'bad' for the whole call."""

    kind = "picky"
    timeout = 5.0

    def __init__(self) -> None:
        self.name = "picky"
        self.fields: tuple[str, ...] = ("tenure_months", "plan", "autopay")
        self.calls: list[int] = []

    def lookup(self, ids: Sequence[str]) -> dict[str, FeatureRow]:
        self.calls.append(len(ids))
        if any("bad" in i for i in ids):
            raise EntityIdRefusedError(self.name, "refused an id: invalid input syntax")
        values = {"tenure_months": 1, "plan": "basic", "autopay": 0}
        return {i: FeatureRow(dict(values), None) for i in ids}

    def close(self) -> None:
        pass


def test_a_source_refusing_one_id_is_split_until_it_is_alone(tmp_path: Path) -> None:
    spec = spec_with({"picky": {"type": "redis", "key": "c:{id}"}})  # settings of no use here
    source = PickySource()
    lookup = FeatureLookup(spec, [source])
    records = [{"customer_id": f"C-{i}"} for i in range(32)]
    records[9] = {"customer_id": "bad-9"}
    try:
        result = lookup.enrich(records)
    finally:
        lookup.close()
    assert list(result.errors) == [9] and result.failed == {}
    assert result.errors[9][0].rule == "id_invalid"
    assert "refused by feature source 'picky'" in result.errors[9][0].message
    assert result.records[10]["plan"] == "basic"
    assert len(source.calls) <= 1 + 2 * 5  # halves: 32 → 16 → 8 → 4 → 2 → 1


@pytest.mark.parametrize("entity", [None, ""])
def test_a_record_without_id_is_left_to_the_input_contract(
    tmp_path: Path, entity: str | None
) -> None:
    lookup = FeatureLookup(spec_with({"picky": {"type": "redis", "key": "c:{id}"}}), [])
    result = lookup.enrich([{"customer_id": entity}])
    lookup.close()
    assert result.errors == {} and result.records == [{"customer_id": entity}]


def test_an_id_with_two_rows_is_refused_never_picked(pg_url: str, tmp_path: Path) -> None:
    int_table(pg_url, 5)
    engine = sa.create_engine(pg_url)
    with engine.begin() as conn:  # the id column is no key: a second row for 20001
        conn.execute(
            sa.text("ALTER TABLE customer_features DROP CONSTRAINT customer_features_pkey")
        )
        conn.execute(sa.text("INSERT INTO customer_features VALUES (20001, 9, 'basic', 0)"))
    engine.dispose()
    lookup = open_lookup(pg_url, tmp_path, id_type="int")
    try:
        result = lookup.enrich([{"customer_id": 20001}, {"customer_id": "20002"}])
    finally:
        lookup.close()
    [error] = result.errors[0]
    assert (error.record, error.entity_id, error.field) == (0, "20001", "customer_id")
    assert error.rule == "entity_ambiguous"
    assert "'20001' has 2 rows in feature source 'db'" in error.message
    assert list(result.errors) == [0] and result.records[1]["tenure_months"] == 2


def test_a_record_refused_for_one_source_asks_no_other() -> None:
    spec = spec_with(
        {
            "by_text": {"type": "redis", "key": "c:{id}", "columns": ["plan", "autopay"]},
            "by_number": {
                "type": "sql",
                "url": "sqlite://",
                "table": "t",
                "id_type": "int",
                "columns": ["tenure_months"],
            },
        }
    )
    text, number = PickySource(), PickySource()
    text.name, text.fields = "by_text", ("plan", "autopay")
    number.name, number.fields = "by_number", ("tenure_months",)
    lookup = FeatureLookup(spec, [text, number])
    result = lookup.enrich([{"customer_id": "C-1"}])
    lookup.close()
    [error] = result.errors[0]
    assert error.rule == "id_invalid" and "(feature source 'by_number')" in error.message
    assert text.calls == [] and number.calls == []
