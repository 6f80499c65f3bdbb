"""``doorstep score FILE --record``: a file's decisions recorded in the store as a run, shown by
``doorstep runs list|show``, resumed by ``doorstep runs resume``."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest
from typer.testing import CliRunner

from doorstep.cli.main import app
from doorstep.cli.score import EXIT_ALL_REJECTED
from doorstep.store import open_store
from doorstep.store.protocols import DecisionQuery, DeliveryQuery
from doorstep.store.runs import RunQuery

runner = CliRunner()


def _words(text: str) -> str:
    return " ".join(text.replace("│", " ").split())


def record(churn_app: Path, db: str, *extra: str, source: str = "customers.parquet") -> object:
    spec = str(churn_app / "doorstep.yaml")
    args = ["score", str(churn_app / source), "--spec", spec, "--record", "--db", db, *extra]
    return runner.invoke(app, args)


@pytest.mark.slow
def test_score_record_records_the_files_decisions_as_a_run(churn_app: Path, tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'store.db'}"
    done = record(churn_app, db, "--chunk-rows", "200")
    assert done.exit_code == 0, done.output  # type: ignore[attr-defined]
    assert "succeeded: 500 rows, 500 decided, 0 rejected, 0 deliveries" in _words(
        done.output  # type: ignore[attr-defined]
    )
    with open_store(db) as store:
        decided = store.list_decisions(DecisionQuery(app="churn", limit=5000)).items
        assert len(decided) == 500
        assert store.list_deliveries(DeliveryQuery(app="churn")).items == []  # not asked to
        [run] = store.list_runs(RunQuery()).items
    listed = runner.invoke(app, ["runs", "list", "--db", db])
    assert listed.exit_code == 0 and run.id in listed.output and "succeeded" in listed.output
    assert "file:customers.parquet" in listed.output  # the list says what each run read
    view = json.loads(runner.invoke(app, ["runs", "show", run.id, "--db", db]).output)
    assert view["source"] == "file:customers.parquet" and view["checkpoint"] == "500"
    assert view["rows"] == view["decided"] == 500 and view["deliveries"] == 0

    again = record(churn_app, f"sqlite:///{tmp_path / 'other.db'}", "--deliver")
    assert again.exit_code == 0, again.output  # type: ignore[attr-defined]
    with open_store(f"sqlite:///{tmp_path / 'other.db'}") as store:
        made = store.list_decisions(DecisionQuery(app="churn", limit=5000)).items
        acted = [d for d in made if d.action != "none" and not d.control]
        sent = store.list_deliveries(DeliveryQuery(app="churn", limit=5000)).items
        assert acted and len(sent) == len(acted)


@pytest.mark.parametrize(
    ("extra", "named"),
    [
        (["--record", "--out", "d.parquet"], ("--out", "--record")),
        (["--record", "--from", "customer_db"], ("--record", "--from")),
        (["--out", "d.parquet", "--deliver"], ("--deliver", "--record")),
    ],
)
def test_record_is_not_mixed_with_options_it_would_ignore(
    churn_app: Path, extra: list[str], named: tuple[str, ...]
) -> None:
    spec = str(churn_app / "doorstep.yaml")
    source = str(churn_app / "customers.parquet")
    done = runner.invoke(app, ["score", source, "--spec", spec, *extra])
    assert done.exit_code == 2, done.output
    shown = _words(done.output)
    assert "Invalid value for" in shown and all(name in shown for name in named), shown
    assert not Path("d.parquet").exists()


@pytest.mark.slow
def test_a_failed_file_run_is_resumed_by_hand(
    churn_app: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from doorstep.services.runs import file_runs

    db = f"sqlite:///{tmp_path / 'store.db'}"
    spec = str(churn_app / "doorstep.yaml")
    decide = file_runs._decide_rows
    calls = {"n": 0}

    def third_fails(*args: object, **kwargs: object) -> object:
        calls["n"] += 1
        if calls["n"] == 3:
            raise RuntimeError("the disk went away")
        return decide(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(file_runs, "_decide_rows", third_fails)
    failed = record(churn_app, db, "--chunk-rows", "100", "--deliver")
    assert failed.exit_code == 1  # type: ignore[attr-defined]
    with open_store(db) as store:
        [run] = store.list_runs(RunQuery()).items
        first = {d.id for d in store.list_decisions(DecisionQuery(app="churn", limit=5000)).items}
    assert run.state == "failed" and run.checkpoint == "200" and len(first) == 200
    resumed = runner.invoke(app, ["runs", "resume", run.id, "--spec", spec, "--db", db])
    assert resumed.exit_code == 0, resumed.output
    assert f"Run {run.id} succeeded: 500 rows, 500 decided" in _words(resumed.output)
    with open_store(db) as store:
        made = store.list_decisions(DecisionQuery(app="churn", limit=5000)).items
        sent = [d.key for d in store.list_deliveries(DeliveryQuery(app="churn", limit=5000)).items]
    assert len(made) == len({d.id for d in made}) == 500 and first <= {d.id for d in made}
    assert len(sent) == len(set(sent))


def test_a_file_run_that_rejects_every_row_writes_its_rejects_and_exits_5(
    churn_app: Path, tmp_path: Path
) -> None:
    db = f"sqlite:///{tmp_path / 'store.db'}"
    frame = pl.read_parquet(churn_app / "customers.parquet").head(20)
    frame.with_columns(pl.lit(-1).alias("tenure_months")).write_parquet(churn_app / "bad.parquet")
    rejects = tmp_path / "rejects.csv"
    done = record(churn_app, db, "--rejects", str(rejects), source="bad.parquet")
    assert done.exit_code == EXIT_ALL_REJECTED, done.output  # type: ignore[attr-defined]
    shown = _words(done.output)  # type: ignore[attr-defined]
    assert "20 rows, 0 decided, 20 rejected" in shown and "doorstep runs show" in shown
    written = pl.read_csv(rejects)
    assert written["row"].to_list() == list(range(1, 21))
    assert set(written["rule"]) == {"min"} and set(written["field"]) == {"tenure_months"}
