"""Decisions imported as they were made (``doorstep decisions import --as-recorded``): the
file's score (and action) recorded instead of the model's, the policy deciding on the recorded
score when no action is given, bad recorded values rejected by row, column and rule, the
lineage naming what was recorded, and a resumed run importing as recorded still."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from doorstep.errors import InputError
from doorstep.services.apps.loading import LoadedApp, load_app
from doorstep.services.runs.imports import ImportColumns, import_file, recorded_columns
from doorstep.services.runs.recorded import RecordedColumns, policy_actions
from doorstep.store import Store
from doorstep.store.protocols import DecisionQuery

ROWS = 200
START = datetime(2026, 1, 5, 8, 0, tzinfo=UTC)


@pytest.fixture
def app(churn_app: Path) -> LoadedApp:
    return load_app(churn_app / "doorstep.yaml")


def history(churn_app: Path, rows: int = ROWS) -> pl.DataFrame:
    """Customers with a decision time, a key, a recorded score spread over [0, 1] and the
    action a former system took (cycling through the policy's actions)."""
    frame = pl.read_parquet(churn_app / "customers.parquet").head(rows)
    actions = ["retention_offer", "none", "call_customer"]
    return frame.with_columns(
        pl.Series("decided_at", [START + timedelta(minutes=37 * i) for i in range(rows)]),
        pl.Series("ref", [f"old-{i}" for i in range(rows)]),
        pl.Series("score", [(i * 7919 % rows) / (rows - 1) for i in range(rows)]),
        pl.Series("action", [actions[i % 3] for i in range(rows)]),
    )


def decisions(store: Store) -> dict[str, Any]:
    made = store.list_decisions(DecisionQuery(app="churn", limit=10_000)).items
    return {(d.lineage or {})["imported"]["key"]: d for d in made}


def run(app: LoadedApp, store: Store, path: Path, recorded: RecordedColumns) -> Any:
    columns = ImportColumns("decided_at", "ref", recorded)
    return import_file(app, store, path, columns, input_format=None, explain=True, chunk_rows=64)


def test_the_recorded_score_and_action_are_recorded_not_the_models(
    app: LoadedApp, churn_app: Path, store: Store
) -> None:
    frame = history(churn_app)
    path = churn_app / "past.parquet"
    frame.write_parquet(path)
    done = run(app, store, path, RecordedColumns("score", "action"))
    assert (done.state, done.decided, done.rejected, done.deliveries) == ("succeeded", ROWS, 0, 0)
    made = decisions(store)
    assert len(made) == ROWS
    for row in frame.iter_rows(named=True):
        decision = made[row["ref"]]
        assert decision.score == row["score"]  # exactly as recorded
        assert decision.action == row["action"]
        assert decision.created_at == row["decided_at"].replace(tzinfo=UTC)
        assert decision.reasons is None  # the model's reasons would not explain this score
        assert decision.lineage["imported"]["recorded"] == {"score": "score", "action": "action"}
    # the policy named its rule only where it chose the recorded action itself
    assert {made[r["ref"]].rule for r in frame.iter_rows(named=True) if r["action"] == "none"} <= {
        None
    }
    assert any(d.rule == "high risk" and d.action == "retention_offer" for d in made.values())
    assert any(d.rule is None and d.action == "retention_offer" for d in made.values())


def test_without_an_action_the_policy_decides_on_the_recorded_score(
    app: LoadedApp, churn_app: Path, store: Store
) -> None:
    frame = history(churn_app).drop("action")
    path = churn_app / "past.csv"
    frame.write_csv(path)
    columns = recorded_columns(path, None, True, None, None)
    assert columns == RecordedColumns("score", None)  # no action column: none recorded
    done = run(app, store, path, columns)
    assert done.decided == ROWS
    made = decisions(store)
    for row in frame.iter_rows(named=True):
        decision = made[row["ref"]]
        assert decision.score == pytest.approx(row["score"], abs=1e-15)
        premium = row["plan"] == "premium" and row["score"] >= 0.70
        expected = (
            "call_customer"
            if premium
            else "retention_offer"
            if row["score"] >= 0.60 or (row["score"] >= 0.40 and row["tenure_months"] >= 6)
            else "none"
        )
        assert decision.action == expected, row
        assert decision.lineage["imported"]["recorded"] == {"score": "score"}


def test_bad_recorded_values_are_rejected_by_row_column_and_rule(
    app: LoadedApp, churn_app: Path, store: Store
) -> None:
    frame = history(churn_app, 10).with_columns(
        pl.Series("p", ["0.2", "abc", "1.5", "-0.1", "nan", None, "0.9", "inf", "0.5", "1"]),
        pl.Series(
            "did",
            ["none", "none", "none", "none", "none", "none", "refund", None, "none", "none"],
        ),
    )
    path = churn_app / "bad.csv"
    frame.write_csv(path)
    done = run(app, store, path, RecordedColumns("p", "did"))
    assert (done.decided, done.rejected) == (3, 7)
    by_row = {(e["record"], e["field"], e["rule"]): e["message"] for e in done.errors}
    assert set(by_row) == {
        (2, "p", "recorded_score"),
        (3, "p", "recorded_score"),
        (4, "p", "recorded_score"),
        (5, "p", "recorded_score"),
        (6, "p", "recorded_score"),
        (7, "did", "recorded_action"),
        (8, "p", "recorded_score"),
        (8, "did", "recorded_action"),
    }
    entity = frame["customer_id"][2]
    assert by_row[(3, "p", "recorded_score")] == (
        f"row 3 (customer_id={entity}): p: the recorded score 1.5 is outside [0, 1] "
        "(a binary classifier's score is the probability of the positive class)"
    )
    assert "'abc' is not a number" in by_row[(2, "p", "recorded_score")]
    assert "the recorded score is missing" in by_row[(6, "p", "recorded_score")]
    assert "the recorded score is missing" in by_row[(5, "p", "recorded_score")]  # CSV's nan
    assert "the recorded score 'inf' is not a finite number" in by_row[(8, "p", "recorded_score")]
    assert "the recorded action is missing" in by_row[(8, "did", "recorded_action")]
    assert by_row[(7, "did", "recorded_action")].endswith(
        "'refund' is not an action of the policy (expected one of: call_customer, "
        "retention_offer, none)"
    )
    made = decisions(store)
    assert sorted(d.score for d in made.values()) == [0.2, 0.5, 1.0]
    assert not any(math.isnan(d.score) for d in made.values())


def test_a_missing_recorded_column_starts_no_run(
    app: LoadedApp, churn_app: Path, store: Store
) -> None:
    path = churn_app / "past.parquet"
    history(churn_app).write_parquet(path)
    with pytest.raises(InputError, match="--score names the column 'prob'"):
        run(app, store, path, RecordedColumns("prob", None))


def test_the_recorded_columns_survive_the_runs_stored_options() -> None:
    columns = ImportColumns("ts", "ref", RecordedColumns("p", "did"))
    assert ImportColumns.from_stored(columns.stored()) == columns
    plain = ImportColumns("ts", "ref")
    assert ImportColumns.from_stored(plain.stored()) == plain
    assert ImportColumns.from_stored({"decided_at": "ts", "key": "ref"}) == plain  # older runs


def test_the_policys_actions(app: LoadedApp) -> None:
    assert policy_actions(app) == ["call_customer", "retention_offer", "none"]


def test_a_chunk_whose_every_recorded_score_is_bad_records_nothing(
    app: LoadedApp, churn_app: Path, store: Store
) -> None:
    frame = history(churn_app, 5).with_columns(pl.lit(7.0).alias("score"))
    path = churn_app / "bad.parquet"
    frame.write_parquet(path)
    done = run(app, store, path, RecordedColumns("score", None))
    assert (done.state, done.decided, done.rejected) == ("succeeded", 0, 5)
    assert decisions(store) == {}
