"""Chunked readers and writers for CSV, Parquet and JSON Lines."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest

from doorstep.core.contract import REJECT_SCHEMA
from doorstep.engines.files import RecordReader, RecordWriter, detect_format, read_sample
from doorstep.errors import InputError
from doorstep.services.decide.batch import DECISION_SCHEMA

FRAME = pl.DataFrame({"id": [f"E{i}" for i in range(10)], "x": list(range(10))})


@pytest.mark.parametrize("suffix", [".csv", ".parquet", ".jsonl"])
def test_chunks_cover_every_row_in_order(tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"in{suffix}"
    if suffix == ".csv":
        FRAME.write_csv(path)
    elif suffix == ".parquet":
        FRAME.write_parquet(path)
    else:
        FRAME.write_ndjson(path)
    reader = RecordReader(path, chunk_rows=3)
    chunks = list(reader)
    assert [c.height for c in chunks] == [3, 3, 3, 1]
    assert reader.total_rows == 10
    joined = pl.concat(chunks)
    assert joined["id"].to_list() == FRAME["id"].to_list()
    assert [str(v) for v in joined["x"].to_list()] == [str(v) for v in range(10)]


def test_csv_values_arrive_as_text_so_one_bad_value_is_one_bad_record(tmp_path: Path) -> None:
    path = tmp_path / "in.csv"
    path.write_text("id,x\n1,2\n2,oops\n3,\n")
    (chunk,) = list(RecordReader(path))
    assert chunk.schema == {"id": pl.String, "x": pl.String}
    assert chunk["x"].to_list() == ["2", "oops", None]


def test_jsonl_mixed_types_and_broken_lines(tmp_path: Path) -> None:
    path = tmp_path / "in.jsonl"
    lines = ['{"id": 1, "x": 2}', '{"id": "b", "x": "z"}', "not json", "[1, 2]", '{"id": "d"}']
    path.write_text("\n".join(lines) + "\n\n")
    reader = RecordReader(path)
    (chunk,) = list(reader)
    assert chunk.height == 5
    assert chunk["id"].to_list() == ["1", "b", None, None, "d"]
    assert [row for row, _ in reader.bad_lines] == [3, 4]
    assert "not valid JSON" in reader.bad_lines[0][1]
    assert "JSON object" in reader.bad_lines[1][1]


def test_unknown_suffix_missing_file_and_bad_parquet(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="cannot tell the format"):
        detect_format(tmp_path / "x.xlsx")
    assert detect_format(tmp_path / "x.data", "csv") == "csv"
    with pytest.raises(InputError, match=r"'parquett' \(did you mean 'parquet'\?\); use csv"):
        detect_format(tmp_path / "x.data", "parquett")
    with pytest.raises(InputError, match="does not exist"):
        RecordReader(tmp_path / "missing.csv")
    bad = tmp_path / "bad.parquet"
    bad.write_bytes(b"not parquet at all")
    with pytest.raises(InputError, match="not a readable Parquet file"):
        RecordReader(bad)
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    with pytest.raises(InputError, match="needs a header row"):
        list(RecordReader(empty))


def test_read_sample_stops_early(tmp_path: Path) -> None:
    path = tmp_path / "ref.parquet"
    FRAME.write_parquet(path)
    assert read_sample(path, 4)["id"].to_list() == ["E0", "E1", "E2", "E3"]


def decisions(n: int, reasons: bool) -> pl.DataFrame:
    reason = [
        {
            "feature": "x",
            "label": "X",
            "value": "1",
            "contribution": 0.5,
            "effect": 12.0,
            "sentence": 'X: 1, raises "risk" by 12 points',
        }
    ]
    return pl.DataFrame(
        {
            "row": range(1, n + 1),
            "entity_id": [f"E{i}" for i in range(n)],
            "score": [0.5] * n,
            "action": ["offer"] * n,
            "rule": [None] * n,
            "review": [False] * n,
            "control": [False] * n,
            "status": ["decided"] * n,
            "reasons_text": ["t" if reasons else None] * n,
            "reasons": [reason if reasons else None] * n,
            "model_version": ["v1"] * n,
            "model_hash": ["sha256:00"] * n,
        },
        schema=DECISION_SCHEMA,
    )


@pytest.mark.parametrize("suffix", [".csv", ".parquet", ".jsonl"])
def test_writer_keeps_one_schema_across_chunks(tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"out{suffix}"
    with RecordWriter(path, DECISION_SCHEMA) as writer:
        writer.write(decisions(2, reasons=False))  # all-null reasons first
        writer.write(decisions(3, reasons=True))
    assert writer.rows == 5
    if suffix == ".parquet":
        back = pl.read_parquet(path)
        assert back.schema == pl.Schema(DECISION_SCHEMA)
        assert back["reasons"][2][0]["effect"] == 12.0
    elif suffix == ".csv":
        back = pl.read_csv(path)
        assert back.columns == list(DECISION_SCHEMA)
        parsed = json.loads(back["reasons"][2])
        assert parsed[0]["sentence"] == 'X: 1, raises "risk" by 12 points'
    else:
        rows = [json.loads(line) for line in path.read_text().splitlines()]
        assert len(rows) == 5 and rows[0]["reasons"] is None
        assert rows[4]["reasons"][0]["feature"] == "x"


def test_empty_output_still_has_a_header(tmp_path: Path) -> None:
    path = tmp_path / "rejects.csv"
    RecordWriter(path, REJECT_SCHEMA).close()
    assert path.read_text().strip() == ",".join(REJECT_SCHEMA)
