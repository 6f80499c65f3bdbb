"""Decisions imported from a file with their times (``doorstep decisions import``): recorded at
the file's times, decided as ``score`` decides them, marked imported (no deliveries, no review
queue), each key once however often the file is imported, bad rows rejected by row, field and
rule, and a failed import resumed to every row once."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from doorstep.errors import InputError
from doorstep.services.apps.loading import LoadedApp, load_app
from doorstep.services.runs import imports
from doorstep.services.runs.files import score_file
from doorstep.services.runs.imports import (
    ImportColumns,
    import_file,
    imported_decision_id,
    is_imported,
)
from doorstep.services.runs.resume import resume_run
from doorstep.store import Store
from doorstep.store.protocols import DecisionQuery, DeliveryQuery
from doorstep.store.runs import RunQuery

ROWS = 300
START = datetime(2026, 1, 5, 8, 0, tzinfo=UTC)
COLUMNS = ImportColumns(decided_at="decided_at", key="ref")


def recorded(store: Store) -> list[Any]:
    return store.list_decisions(DecisionQuery(app="churn", limit=10_000)).items


@pytest.fixture
def app(churn_app: Path) -> LoadedApp:
    return load_app(churn_app / "doorstep.yaml")


def history(churn_app: Path, rows: int = ROWS) -> pl.DataFrame:
    """Customers with a decision time each (one every 37 minutes) and a key of their own."""
    frame = pl.read_parquet(churn_app / "customers.parquet").head(rows)
    times = [START + timedelta(minutes=37 * i) for i in range(rows)]
    return frame.with_columns(
        pl.Series("decided_at", times, dtype=pl.Datetime("us", "UTC")),
        pl.Series("ref", [f"old-{i}" for i in range(rows)]),
    )


@pytest.fixture
def past(churn_app: Path) -> Path:
    path = churn_app / "past.parquet"
    history(churn_app).write_parquet(path)
    return path


def run_import(app: LoadedApp, store: Store, path: Path, chunk_rows: int = 64) -> Any:
    return import_file(
        app, store, path, COLUMNS, input_format=None, explain=True, chunk_rows=chunk_rows
    )


def test_decisions_are_recorded_at_their_times_as_score_decides_them(
    app: LoadedApp, churn_app: Path, past: Path, store: Store, tmp_path: Path
) -> None:
    run = run_import(app, store, past)
    assert run.state == "succeeded" and run.source == "import:past.parquet"
    assert (run.rows, run.decided, run.rejected, run.deliveries) == (ROWS, ROWS, 0, 0)
    frame = history(churn_app)
    times = dict(zip(frame["ref"], frame["decided_at"], strict=True))
    score_file(app, past, tmp_path / "out.jsonl", explain=True, chunk_rows=64)
    written = {}
    for line in (tmp_path / "out.jsonl").read_text().splitlines():
        item = json.loads(line)
        written[item["row"]] = item
    made = recorded(store)
    assert len(made) == ROWS
    for decision in made:
        key = decision.lineage["imported"]["key"]
        assert is_imported(decision) and decision.lineage["imported"]["run"] == run.id
        assert decision.created_at == times[key]
        assert decision.id == imported_decision_id("churn", key, times[key])
        item = written[decision.lineage["file"]["row"]]
        assert decision.entity_id == item["entity_id"]
        assert decision.score == pytest.approx(item["score"], abs=1e-12)
        assert decision.action == item["action"] and decision.reasons == item["reasons"]
        if item["status"] == "pending_review":  # history is not put before reviewers again
            assert decision.review and decision.status.value == "decided"
        else:
            assert decision.status.value == item["status"]
    assert any(d.review and not d.control for d in made)  # the example has a review band
    assert store.list_deliveries(DeliveryQuery(app="churn", limit=10)).items == []
    # they sort by their decision time, not the time of the import
    newest = store.list_decisions(DecisionQuery(app="churn", limit=1)).items[0]
    assert newest.created_at == max(times.values())


def test_importing_again_records_each_key_once(
    app: LoadedApp, churn_app: Path, past: Path, store: Store
) -> None:
    first = run_import(app, store, past)
    overlapping = churn_app / "more.parquet"
    more = history(churn_app, ROWS + 50)
    more.write_parquet(overlapping)
    again = run_import(app, store, overlapping, chunk_rows=100)
    assert again.state == "succeeded" and again.id != first.id
    assert (again.decided, again.rows, again.checkpoint) == (50, 50, str(ROWS + 50))
    made = recorded(store)
    assert len(made) == len({d.id for d in made}) == ROWS + 50


def test_a_key_twice_in_a_chunk_is_recorded_once(
    app: LoadedApp, churn_app: Path, store: Store
) -> None:
    frame = history(churn_app, 10)
    path = churn_app / "twice.parquet"
    pl.concat([frame, frame.head(3)]).write_parquet(path)
    run = run_import(app, store, path)
    assert (run.decided, run.rows, run.rejected) == (10, 10, 0)
    assert len(recorded(store)) == 10


def test_bad_times_and_keys_are_rejected_by_row_field_and_rule(
    app: LoadedApp, churn_app: Path, store: Store
) -> None:
    frame = history(churn_app, 8)
    texts = [t.isoformat() for t in frame["decided_at"]]
    texts[1] = "yesterday"
    texts[2] = None
    texts[3] = (datetime.now(UTC) + timedelta(days=2)).isoformat()
    texts[4] = "2026-01-05T10:00:00+02:00"  # an offset: 08:00 UTC
    texts[5] = "2026-01-05 09:30:00"  # no zone: UTC
    refs = list(frame["ref"])
    refs[6] = ""
    path = churn_app / "bad.csv"
    frame.with_columns(pl.Series("decided_at", texts), pl.Series("ref", refs)).write_csv(path)
    run = run_import(app, store, path)
    assert (run.decided, run.rejected) == (4, 4)
    found = {(e["record"], e["field"], e["rule"]) for e in run.errors}
    assert found == {
        (2, "decided_at", "decided_at"),
        (3, "decided_at", "decided_at"),
        (4, "decided_at", "decided_at"),
        (7, "ref", "key_required"),
    }
    messages = {e["record"]: e["message"] for e in run.errors}
    assert "'yesterday' is not a time" in messages[2] and "is missing" in messages[3]
    assert "in the future" in messages[4]
    at = {d.lineage["file"]["row"]: d.created_at for d in recorded(store)}
    assert at[5] == datetime(2026, 1, 5, 8, 0, tzinfo=UTC)
    assert at[6] == datetime(2026, 1, 5, 9, 30, tzinfo=UTC)


def test_a_missing_time_column_starts_no_run(app: LoadedApp, past: Path, store: Store) -> None:
    with pytest.raises(InputError, match="--decided-at names the column 'when'"):
        import_file(
            app,
            store,
            past,
            ImportColumns("when", "ref"),
            input_format=None,
            explain=False,
            chunk_rows=64,
        )
    assert store.list_runs(RunQuery(app="churn")).items == []


@pytest.fixture
def failing_third_chunk(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    decide = imports._decide_imported
    calls = {"n": 0}

    def third_fails(*args: Any, **kwargs: Any) -> Any:
        calls["n"] += 1
        if calls["n"] == 3:
            raise RuntimeError("the third chunk failed")
        return decide(*args, **kwargs)

    monkeypatch.setattr(imports, "_decide_imported", third_fails)
    yield
    monkeypatch.setattr(imports, "_decide_imported", decide)


def test_a_failed_import_resumes_as_an_import(
    app: LoadedApp, churn_app: Path, past: Path, store: Store, failing_third_chunk: None
) -> None:
    with pytest.raises(RuntimeError, match="third chunk"):
        run_import(app, store, past, chunk_rows=100)
    [failed] = store.list_runs(RunQuery(app="churn")).items
    assert failed.state == "failed" and failed.checkpoint == "200"
    done = resume_run(app, store, failed.id, actor="t")
    assert done.state == "succeeded" and (done.rows, done.decided) == (ROWS, ROWS)
    made = recorded(store)
    times = dict(zip(history(churn_app)["ref"], history(churn_app)["decided_at"], strict=True))
    assert len(made) == ROWS and all(is_imported(d) for d in made)
    assert all(d.created_at == times[d.lineage["imported"]["key"]] for d in made)
