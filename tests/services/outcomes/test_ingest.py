"""Outcome files and bodies: per-row errors naming row, field and rule; idempotent re-imports;
unmatched outcomes counted; CSV, Parquet and JSON Lines; one audit event per import."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import polars as pl
import pytest
import sqlalchemy as sa
from tests.services.monitor.test_report import SPEC, START, spec
from tests.store.factories import decision

from doorstep.errors import InputError, RecordError
from doorstep.services.outcomes.ingest import import_outcomes, record_outcomes
from doorstep.services.outcomes.rows import OutcomeParser
from doorstep.store import RecordRequest, Store
from doorstep.store.tables import audit_events

NOW = START + timedelta(days=20)


@pytest.fixture
def decided(store: Store) -> Store:
    store.record(
        [RecordRequest([decision(i, created_at=START + timedelta(hours=i)) for i in range(1, 6)])],
        actor="t",
    )
    return store


def rows() -> list[dict[str, object]]:
    return [
        {"customer_id": "C-1", "churned": 1, "observed_at": "2025-03-05T10:00:00Z"},
        {"customer_id": "C-2", "churned": "0", "observed_at": "2025-03-05"},
        {"customer_id": "C-3", "churned": "maybe", "observed_at": "2025-03-05"},
        {"customer_id": "", "churned": 1, "observed_at": "2025-03-05"},
        {"customer_id": "C-4", "churned": 0, "observed_at": "last tuesday"},
        {"customer_id": "C-404", "churned": 1, "observed_at": "2025-03-05T00:00:00+02:00"},
        {"customer_id": "C-5", "churned": 1, "observed_at": "2031-01-01"},
    ]


def write(path: Path, fmt: str) -> Path:
    frame = pl.DataFrame(rows(), schema_overrides={"churned": pl.String})
    if fmt == "csv":
        frame.write_csv(path)
    elif fmt == "parquet":
        frame.write_parquet(path)
    else:
        path.write_text("".join(json.dumps(r) + "\n" for r in rows()) + "not json\n")
    return path


@pytest.mark.parametrize("fmt", ["csv", "parquet", "jsonl"])
def test_import_records_good_rows_and_reports_bad_ones(
    decided: Store, tmp_path: Path, fmt: str
) -> None:
    source = write(tmp_path / f"outcomes.{fmt}", fmt)
    summary = import_outcomes(spec(), decided, source, actor="cli:t", now=NOW, chunk_rows=3)
    expected_rows = 8 if fmt == "jsonl" else 7
    assert summary.rows == expected_rows
    assert (summary.recorded.recorded, summary.recorded.matched) == (3, 2)
    assert dict(summary.recorded.unmatched) == {"no_decision": 1}
    assert summary.refused == expected_rows - 3
    found = {(e.record, e.field, e.rule) for e in summary.first_errors}
    assert (3, "churned", "allowed_values") in found
    assert (4, "decision_id", "id_required") in found
    assert (5, "observed_at", "type") in found
    assert (7, "observed_at", "max") in found
    if fmt == "jsonl":
        assert (8, None, "record") in found
    message = next(e.message for e in summary.first_errors if e.rule == "allowed_values")
    assert message == "churned must be '1' (positive) or '0' (negative), got 'maybe'"
    assert summary.rejects == tmp_path / "outcomes.rejects.csv"
    rejects = pl.read_csv(summary.rejects)
    assert rejects.columns == ["row", "entity_id", "field", "rule", "message"]
    assert rejects["row"].to_list() == sorted(rejects["row"].to_list())
    assert rejects.height == len(summary.first_errors)

    again = import_outcomes(spec(), decided, source, actor="cli:t", now=NOW, chunk_rows=3)
    assert again.recorded.recorded == 0 and again.recorded.duplicates == 3
    with decided.engine.connect() as conn:
        kinds = conn.execute(sa.select(audit_events.c.kind, audit_events.c.payload)).all()
    imports = [payload for kind, payload in kinds if kind == "outcomes.imported"]
    assert len(imports) == 2 and imports[0]["recorded"] == 3 and imports[1]["duplicates"] == 3
    assert imports[0]["source"] == f"file:outcomes.{fmt}" and imports[0]["events"]
    assert decided.verify_audit().ok


def test_a_file_without_the_needed_columns_is_refused(decided: Store, tmp_path: Path) -> None:
    source = tmp_path / "o.csv"
    source.write_text("customer_id,churnd,observed\nC-1,1,2025-03-05\n")
    with pytest.raises(InputError) as info:
        import_outcomes(spec(), decided, source, actor="t", now=NOW)
    assert "'churned' (the label; monitoring.outcome.field) (did you mean 'churnd'?)" in str(
        info.value
    )
    assert "'observed_at' (did you mean 'observed'?)" in str(info.value)


def test_bodies_name_refused_records(decided: Store) -> None:
    result, errors = record_outcomes(
        spec(),
        decided,
        [
            {"customer_id": "C-1", "churned": True, "observed_at": "2025-03-03T08:00:00Z"},
            {"entity_id": "C-2", "churned": False, "observed_at": "2025-03-02T00:00:00Z"},
            "not an object",
            {"decision_id": "nope", "churned": 1, "observed_at": "2025-03-02T00:00:00Z"},
        ],
        actor="key:crm",
        now=NOW,
    )
    assert (result.recorded, result.matched) == (3, 2)
    assert result.unmatched_rows == [(3, "unknown_decision")]
    assert errors == [RecordError(2, None, None, "type", "an outcome must be a JSON object")]
    conflict, errors = record_outcomes(
        spec(),
        decided,
        [{"entity_id": "C-2", "churned": 1, "observed_at": "2025-03-02T00:00:00Z"}],
        actor="key:crm",
        now=NOW,
    )
    assert conflict.recorded == 0
    assert [(e.record, e.field, e.rule) for e in errors] == [(0, "churned", "conflict")]


def test_parser_reads_the_spec() -> None:
    text = SPEC.replace("field: churned", "field: status, positive: churned, negative: stayed")
    parser = OutcomeParser(spec(text), now=datetime(2025, 4, 1, tzinfo=UTC))
    parsed = parser.parse(
        {"customer_id": "C-1", "status": " churned ", "observed_at": "2025-03-01T12:00:00+01:00"},
        1,
    )
    assert not isinstance(parsed, list)
    assert parsed.label == "churned" and parsed.entity_id == "C-1"
    assert parsed.observed_at == datetime(2025, 3, 1, 11, tzinfo=UTC)
    errors = parser.parse(
        {"customer_id": "C-1", "status": "churnd", "observed_at": "2025-03-01"}, 2
    )
    assert isinstance(errors, list)
    assert errors[0].message.endswith("got 'churnd' (did you mean 'churned'?)")
