"""``doorstep score --from`` (a database as batch input) and ``doorstep runs list|show``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from doorstep.cli.main import app
from doorstep.store import open_store
from doorstep.store.protocols import DecisionQuery, DeliveryQuery
from doorstep.store.runs import RunQuery

runner = CliRunner()


@pytest.mark.slow
def test_score_from_a_source_records_decisions_and_runs(churn_app: Path, tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'store.db'}"
    spec = str(churn_app / "doorstep.yaml")
    done = runner.invoke(app, ["score", "--spec", spec, "--from", "customer_db", "--db", db])
    assert done.exit_code == 0, done.output
    assert "succeeded: 500 rows, 500 decided" in " ".join(done.output.split())
    with open_store(db) as store:
        decided = store.list_decisions(DecisionQuery(app="churn", limit=1000)).items
        assert len(decided) == 500 and len({d.entity_id for d in decided}) == 500
        assert all(d.lineage and "customer_db" in d.lineage["sources"] for d in decided)
        assert store.list_deliveries(DeliveryQuery(app="churn")).items == []  # not asked to
    listed = runner.invoke(app, ["runs", "list", "--db", db])
    assert listed.exit_code == 0 and "succeeded" in listed.output
    with open_store(db) as store:
        [run] = store.list_runs(RunQuery()).items
    shown = runner.invoke(app, ["runs", "show", run.id, "--db", db])
    view = json.loads(shown.output)
    assert view["decided"] == 500 and view["checkpoint"] == max(d.entity_id for d in decided)


@pytest.mark.slow
def test_score_from_a_query_enqueues_actions_when_asked(churn_app: Path, tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'store.db'}"
    query = "SELECT * FROM customer_features WHERE plan = 'premium'"
    url = f"sqlite:///{churn_app / 'features.db'}"
    args = ["score", "--spec", str(churn_app / "doorstep.yaml"), "--url", url, "--query", query]
    done = runner.invoke(app, [*args, "--db", db, "--deliver"])
    assert done.exit_code == 0, done.output
    with open_store(db) as store:
        decided = store.list_decisions(DecisionQuery(app="churn", limit=1000)).items
        acted = [d for d in decided if d.action != "none" and not d.control]
        assert decided and all(d.inputs["plan"] == "premium" for d in decided)
        assert len(store.list_deliveries(DeliveryQuery(app="churn", limit=1000)).items) == len(
            acted
        )


def test_unknown_source_and_missing_run_fail_clearly(churn_app: Path, tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'store.db'}"
    spec = str(churn_app / "doorstep.yaml")
    done = runner.invoke(app, ["score", "--spec", spec, "--from", "crm_db", "--db", db])
    assert done.exit_code == 1 and "not a SQL source of the spec" in done.output
    near = runner.invoke(app, ["score", "--spec", spec, "--from", "custmer_db", "--db", db])
    assert "(did you mean 'customer_db'?)" in " ".join(near.output.split())
    shown = runner.invoke(app, ["runs", "show", "nope", "--db", db])
    assert shown.exit_code == 1 and "There is no run 'nope'" in shown.output


def test_run_ids_stay_whole_in_an_80_column_terminal(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from doorstep.cli.console import console

    db = f"sqlite:///{tmp_path / 'store.db'}"
    with open_store(db) as store:
        for source in ("customer_db", "a_source_with_a_rather_long_name"):
            lease = store.start_run("churn", source, runner="t", lease_seconds=60)
            assert lease is not None
            store.finish_run(lease, "failed", "the source was down")
        ids = [r.id for r in store.list_runs(RunQuery()).items]
    monkeypatch.setenv("COLUMNS", "80")
    monkeypatch.setattr(console, "_width", 80)  # a terminal 80 columns wide (the attribute:
    # monkeypatch would put the width property back as the number it read, pinning it)
    listed = runner.invoke(app, ["runs", "list", "--db", db])
    assert listed.exit_code == 0, listed.output
    assert max(len(line) for line in listed.output.splitlines()) <= 80
    shown_ids = [w for line in listed.output.splitlines() for w in line.split() if len(w) == 36]
    assert shown_ids == ids  # whole, newest first
    shown = runner.invoke(app, ["runs", "show", shown_ids[0], "--db", db])
    assert shown.exit_code == 0 and json.loads(shown.output)["run_id"] == ids[0]


def _words(text: str) -> str:
    return " ".join(text.replace("│", " ").split())


@pytest.mark.parametrize(
    ("extra", "named"),
    [
        (["--from", "customer_db", "--out", "decisions.parquet"], ("--out", "--from")),
        (["--from", "customer_db", "--rejects", "r.csv"], ("--rejects", "--from")),
        (["customers.parquet", "--from", "customer_db"], ("SOURCE", "--from")),
        (["--url", "sqlite://", "--query", "SELECT 1", "-o", "d.csv"], ("--out", "--url")),
        (["--from", "customer_db", "--url", "sqlite://", "--query", "SELECT 1"], ("--from",)),
        (["customers.parquet", "--out", "d.parquet", "--deliver"], ("--deliver", "--from")),
        (["customers.parquet", "--out", "d.parquet", "--db", "sqlite://"], ("--db", "--from")),
        (["--from", "customer_db", "--query", "SELECT 1"], ("--query", "--from")),
        (["--url", "sqlite://"], ("--query", "--url")),
        (["--query", "SELECT 1"], ("--url", "--query")),
    ],
)
def test_options_of_a_file_and_of_a_run_are_not_mixed(
    churn_app: Path, tmp_path: Path, extra: list[str], named: tuple[str, ...]
) -> None:
    """An option that would be ignored is a usage error (exit 2) naming both options; nothing
    is decided, recorded or written."""
    spec = str(churn_app / "doorstep.yaml")
    done = runner.invoke(app, ["score", "--spec", spec, *extra])
    assert done.exit_code == 2, done.output
    shown = _words(done.output)
    assert "Invalid value for" in shown
    assert all(name in shown for name in named), shown
    assert not (tmp_path / "decisions.parquet").exists() and not Path("d.parquet").exists()


@pytest.mark.slow
def test_a_failed_run_is_resumed_by_hand(
    churn_app: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from doorstep.services.runs import sources

    db = f"sqlite:///{tmp_path / 'store.db'}"
    spec = str(churn_app / "doorstep.yaml")
    decide = sources._decide_chunk
    calls = {"n": 0}

    def second_fails(*args: object, **kwargs: object) -> object:
        calls["n"] += 1
        if calls["n"] == 2:
            raise RuntimeError("the warehouse went away")
        return decide(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(sources, "_decide_chunk", second_fails)
    args = ["score", "--spec", spec, "--from", "customer_db", "--db", db, "--chunk-rows", "100"]
    failed = runner.invoke(app, args)
    assert failed.exit_code == 1
    with open_store(db) as store:
        [run] = store.list_runs(RunQuery()).items
    assert run.state == "failed"
    resumed = runner.invoke(app, ["runs", "resume", run.id, "--spec", spec, "--db", db])
    assert resumed.exit_code == 0, resumed.output
    assert f"Run {run.id} succeeded: 500 rows" in " ".join(resumed.output.split())
    with open_store(db) as store:
        decided = store.list_decisions(DecisionQuery(app="churn", limit=1000)).items
        assert len(decided) == len({d.entity_id for d in decided}) == 500
    again = runner.invoke(app, ["runs", "resume", run.id, "--spec", spec, "--db", db])
    assert again.exit_code == 1
    assert "error (conflict)" in again.output and "it succeeded" in again.output


def test_a_run_whose_runner_died_shows_its_expired_lease(tmp_path: Path) -> None:
    from datetime import UTC, datetime, timedelta

    db = f"sqlite:///{tmp_path / 'store.db'}"
    then = datetime.now(UTC) - timedelta(minutes=10)
    with open_store(db) as store:
        lease = store.start_run("churn", "customer_db", runner="t", lease_seconds=60, now=then)
        assert lease is not None
    listed = runner.invoke(app, ["runs", "list", "--db", db])
    assert listed.exit_code == 0
    assert "running, lease expired 9 min ago" in _words(listed.output)
    view = json.loads(runner.invoke(app, ["runs", "show", lease.run.id, "--db", db]).output)
    assert view["state"] == "running" and view["stale"] is True
    assert view["lease_expires_at"] == (then + timedelta(seconds=60)).isoformat()
    assert f"doorstep runs resume {lease.run.id}" in view["state_detail"]


def test_a_skipped_slot_is_listed_with_its_reason(tmp_path: Path) -> None:
    from datetime import UTC, datetime

    db = f"sqlite:///{tmp_path / 'store.db'}"
    reason = "missed by 3 h, more than catch_up 1h: no scheduler started it in time"
    with open_store(db) as store:
        skipped = store.skip_slot(
            "churn",
            "customer_db",
            schedule="nightly",
            slot=datetime(2025, 5, 1, 2, tzinfo=UTC),
            reason=reason,
        )
    assert skipped is not None
    listed = runner.invoke(app, ["runs", "list", "--state", "skipped", "--db", db])
    assert skipped.id in listed.output and "skipped" in listed.output
    assert "2025-05-01 02:00" in listed.output
    view = json.loads(runner.invoke(app, ["runs", "show", skipped.id, "--db", db]).output)
    assert view["state"] == "skipped" and view["error"] == view["state_detail"] == reason


@pytest.mark.parametrize("extra", [[], ["customers.parquet"], ["--out", "d.parquet"]])
def test_score_without_something_to_decide_is_a_usage_error(
    churn_app: Path, extra: list[str]
) -> None:
    """Nothing to decide, or nowhere to put it: a usage error (exit 2) saying what to give."""
    done = runner.invoke(app, ["score", "--spec", str(churn_app / "doorstep.yaml"), *extra])
    assert done.exit_code == 2, done.output
    shown = _words(done.output)
    assert "give a SOURCE file and --out (or --record), or --from SOURCE" in shown, shown
    assert not Path("d.parquet").exists()
