"""A record file decided into the store as a run (``doorstep score FILE --record``): the same
decisions and reasons as ``score --out``, deliveries only when asked, every row exactly once
with the same decision ids across a failure and a resume, rejected rows counted."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from doorstep.errors import ConflictError, InputError
from doorstep.services.apps.loading import LoadedApp, load_app
from doorstep.services.runs import file_runs
from doorstep.services.runs.file_runs import file_decision_ids, record_file
from doorstep.services.runs.files import score_file
from doorstep.services.runs.resume import resume_run
from doorstep.store import Store
from doorstep.store.protocols import DecisionQuery, DeliveryQuery
from doorstep.store.runs import RunInfo, RunQuery

ROWS = 500


def recorded(store: Store) -> list[Any]:
    return store.list_decisions(DecisionQuery(app="churn", limit=10_000)).items


def keys(store: Store) -> list[str]:
    return [d.key for d in store.list_deliveries(DeliveryQuery(app="churn", limit=10_000)).items]


@pytest.fixture
def app(churn_app: Path) -> LoadedApp:
    return load_app(churn_app / "doorstep.yaml")


@pytest.fixture
def customers(churn_app: Path) -> Path:
    """The first 500 customers of the churn example (a Parquet file)."""
    path = churn_app / "some.parquet"
    pl.read_parquet(churn_app / "customers.parquet").head(ROWS).write_parquet(path)
    return path


def test_recorded_decisions_carry_the_reasons_score_out_writes(
    app: LoadedApp, customers: Path, store: Store, tmp_path: Path
) -> None:
    run = record_file(
        app, store, customers, input_format=None, deliver=False, explain=True, chunk_rows=128
    )
    assert run.state == "succeeded" and run.source == "file:some.parquet"
    assert (run.rows, run.decided, run.rejected, run.checkpoint) == (ROWS, ROWS, 0, str(ROWS))
    score_file(app, customers, tmp_path / "out.jsonl", explain=True, chunk_rows=128)
    written = {}
    for line in (tmp_path / "out.jsonl").read_text().splitlines():
        item = json.loads(line)
        written[item["row"]] = item
    made = recorded(store)
    assert len(made) == ROWS and all(d.reasons for d in made)  # --explain: every one
    ids = file_decision_ids(run)
    for decision in made:
        row = decision.lineage["file"]["row"]
        item = written[row]
        assert decision.id == ids(row)
        assert decision.entity_id == item["entity_id"]
        assert decision.score == pytest.approx(item["score"], abs=1e-12)
        assert (decision.action, decision.rule or None) == (item["action"], item["rule"] or None)
        assert decision.status.value == item["status"]
        assert decision.reasons_text == item["reasons_text"]
        assert decision.reasons == item["reasons"]  # feature, label, value, effect, sentence
        assert decision.lineage["sources"] == {} and "tenure_months" in decision.lineage["request"]
    assert keys(store) == []  # not asked to deliver


def test_deliveries_are_enqueued_once_with_deliver(
    app: LoadedApp, customers: Path, store: Store
) -> None:
    run = record_file(
        app, store, customers, input_format=None, deliver=True, explain=False, chunk_rows=100
    )
    acted = [d for d in recorded(store) if d.action != "none" and not d.control]
    sent = keys(store)
    assert acted and len(sent) == len(set(sent)) == len(acted) == run.deliveries
    assert set(sent) == {f"{d.id}:{d.action}" for d in acted}


@pytest.fixture
def failing_third_chunk(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The third chunk a file run decides fails (after two were committed)."""
    decide = file_runs._decide_rows
    calls = {"n": 0}

    def third_fails(*args: Any, **kwargs: Any) -> Any:
        calls["n"] += 1
        if calls["n"] == 3:
            raise RuntimeError("the third chunk failed")
        return decide(*args, **kwargs)

    monkeypatch.setattr(file_runs, "_decide_rows", third_fails)
    yield
    monkeypatch.setattr(file_runs, "_decide_rows", decide)


def failed_run(app: LoadedApp, store: Store, path: Path) -> RunInfo:
    with pytest.raises(RuntimeError, match="third chunk"):
        record_file(
            app, store, path, input_format=None, deliver=True, explain=False, chunk_rows=100
        )
    [run] = store.list_runs(RunQuery(app="churn")).items
    return run


def test_a_failed_file_run_resumes_and_records_every_row_once_with_its_ids(
    app: LoadedApp, customers: Path, store: Store, failing_third_chunk: None
) -> None:
    failed = failed_run(app, store, customers)
    assert failed.state == "failed" and failed.checkpoint == "200" and failed.rows == 200
    before = {d.lineage["file"]["row"]: d.id for d in recorded(store)}
    keys_before = keys(store)
    assert sorted(before) == list(range(1, 201)) and keys_before

    done = resume_run(app, store, failed.id, actor="t")
    assert done.id == failed.id and done.state == "succeeded" and done.attempts == 2
    assert (done.rows, done.decided, done.checkpoint) == (ROWS, ROWS, str(ROWS))
    after = {d.lineage["file"]["row"]: d.id for d in recorded(store)}
    assert sorted(after) == list(range(1, ROWS + 1))  # every row, once
    assert {row: after[row] for row in before} == before  # the first ones untouched
    ids = file_decision_ids(done)
    assert all(ids(row) == decision_id for row, decision_id in after.items())
    sent = keys(store)
    assert set(keys_before) <= set(sent) and len(set(sent)) == len(sent) == done.deliveries


def test_a_chunk_recorded_again_records_nothing_twice(
    app: LoadedApp, customers: Path, store: Store
) -> None:
    """A runner that decides rows again in the same run (its checkpoint behind what it
    committed) makes the same ids: one decision and one delivery per row."""
    from doorstep.services.runs.file_runs import FileOrigin, run_file
    from doorstep.services.runs.sources import RunOptions

    first = record_file(
        app, store, customers, input_format=None, deliver=True, explain=False, chunk_rows=100
    )
    decided, sent = {d.id for d in recorded(store)}, keys(store)
    with store.engine.begin() as conn:  # as if it had failed with its checkpoint at row 100
        from doorstep.store.tables import runs

        conn.execute(
            runs.update().where(runs.c.id == first.id).values(state="failed", checkpoint="100")
        )
    assert store.reopen_run(first.id, actor="t")
    lease = store.take_over_run(first.id, runner="b", lease_seconds=60)
    assert lease is not None
    options = RunOptions(chunk_rows=100, deliver=True, explain=False)
    again = run_file(app, store, lease, options, FileOrigin.from_run(first))
    assert {d.id for d in recorded(store)} == decided and keys(store) == sent
    assert again.state == "succeeded" and again.rows == ROWS and again.decided == ROWS
    assert again.deliveries == first.deliveries


def test_rejected_rows_are_counted_and_kept_with_the_run(
    app: LoadedApp, churn_app: Path, store: Store
) -> None:
    frame = pl.read_parquet(churn_app / "customers.parquet").head(300)
    frame = frame.with_columns(
        pl.when(pl.int_range(pl.len()).is_in([5, 150, 151]))
        .then(-3)
        .otherwise(pl.col("tenure_months"))
        .alias("tenure_months")
    )
    lines = [json.dumps(r, default=str) for r in frame.to_dicts()]
    lines[40] = "this is no JSON"
    path = churn_app / "bad.jsonl"
    path.write_text("\n".join(lines) + "\n")
    run = record_file(
        app, store, path, input_format=None, deliver=False, explain=False, chunk_rows=100
    )
    assert run.state == "succeeded" and run.source == "file:bad.jsonl"
    assert (run.rows, run.decided, run.rejected) == (300, 296, 4)
    assert len(recorded(store)) == 296
    assert [(e["record"], e["rule"]) for e in run.errors] == [
        (6, "min"),
        (41, "record"),
        (151, "min"),
        (152, "min"),
    ]
    assert run.errors[0]["field"] == "tenure_months" and "row 6" in run.errors[0]["message"]


def test_an_entity_twice_in_a_file_is_two_decisions(
    app: LoadedApp, churn_app: Path, store: Store
) -> None:
    """A file may hold one entity twice (two applications of one customer): keyed by row,
    each row is a decision of its own."""
    frame = pl.read_parquet(churn_app / "customers.parquet").head(10)
    path = churn_app / "twice.parquet"
    pl.concat([frame, frame.head(1)]).write_parquet(path)
    run = record_file(
        app, store, path, input_format=None, deliver=False, explain=False, chunk_rows=4
    )
    made = recorded(store)
    assert run.decided == 11 == len(made) == len({d.id for d in made})
    first = frame["customer_id"][0]
    assert sorted(d.lineage["file"]["row"] for d in made if d.entity_id == first) == [1, 11]


def test_resume_refuses_a_file_that_changed(
    app: LoadedApp, customers: Path, store: Store, failing_third_chunk: None
) -> None:
    failed = failed_run(app, store, customers)
    pl.read_parquet(customers).head(400).write_parquet(customers)
    with pytest.raises(InputError, match="changed since the run started"):
        resume_run(app, store, failed.id, actor="t")
    os.remove(customers)
    with pytest.raises(InputError, match="which is gone"):
        resume_run(app, store, failed.id, actor="t")
    assert store.get_run(failed.id).state == "failed"  # type: ignore[union-attr]


def test_an_unreadable_file_starts_no_run(app: LoadedApp, churn_app: Path, store: Store) -> None:
    path = churn_app / "broken.parquet"
    path.write_bytes(b"this is no Parquet file")
    with pytest.raises(InputError, match="not a readable Parquet file"):
        record_file(
            app, store, path, input_format=None, deliver=False, explain=False, chunk_rows=100
        )
    assert store.list_runs(RunQuery()).items == []


def test_the_rejects_file_of_a_resumed_run_holds_each_rejected_row_once(
    app: LoadedApp, churn_app: Path, store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The third chunk's rejects are written, then its commit fails: the resume cuts them from
    the rejects file and writes them again, once; the file equals what score --out writes."""
    frame = pl.read_parquet(churn_app / "customers.parquet").head(ROWS)
    frame = frame.with_columns(
        pl.when(pl.int_range(pl.len()).is_in([5, 150, 250, 260, 420]))
        .then(-3)
        .otherwise(pl.col("tenure_months"))
        .alias("tenure_months")
    )
    path = churn_app / "bad.parquet"
    frame.write_parquet(path)
    record_chunk = Store.record_run_chunk
    calls = {"n": 0}

    def third_commit_fails(self: Store, *args: Any, **kwargs: Any) -> None:
        calls["n"] += 1
        if calls["n"] == 3:
            raise RuntimeError("the store went away")
        record_chunk(self, *args, **kwargs)

    monkeypatch.setattr(Store, "record_run_chunk", third_commit_fails)
    rejects = tmp_path / "rejects.csv"
    with pytest.raises(RuntimeError, match="store went away"):
        record_file(
            app,
            store,
            path,
            input_format=None,
            deliver=False,
            explain=False,
            chunk_rows=100,
            rejects=rejects,
        )
    [failed] = store.list_runs(RunQuery()).items
    assert failed.checkpoint == "200"
    assert pl.read_csv(rejects)["row"].to_list() == [6, 151, 251, 261]  # 251, 261 uncommitted
    done = resume_run(app, store, failed.id, actor="t")
    assert done.state == "succeeded" and (done.rows, done.rejected) == (ROWS, 5)
    score_file(app, path, tmp_path / "out.parquet", explain=False)
    assert pl.read_csv(rejects).equals(pl.read_csv(tmp_path / "out.rejects.csv"))

    rejects.unlink()  # a resume whose rejects file is gone is refused
    with store.engine.begin() as conn:
        from doorstep.store.tables import runs

        conn.execute(runs.update().where(runs.c.id == done.id).values(state="failed"))
    with pytest.raises(InputError, match="rejects file .* which is gone"):
        resume_run(app, store, done.id, actor="t")


KILLED_CHILD = """
import sys, time
from pathlib import Path
from doorstep.services.runs import file_runs
from doorstep.services.apps.loading import load_app
from doorstep.store import open_store

decide = file_runs._decide_rows
def slow(*args, **kwargs):
    time.sleep(0.05)  # a long run: time to kill it halfway
    return decide(*args, **kwargs)
file_runs._decide_rows = slow
app = load_app(Path(sys.argv[1]))
with open_store(sys.argv[2]) as store:
    file_runs.record_file(app, store, Path(sys.argv[3]), input_format=None, deliver=True,
                          explain=False, chunk_rows=20, rejects=Path(sys.argv[4]))
"""


@pytest.mark.slow
def test_a_file_run_killed_halfway_resumes_and_records_every_row_once(
    churn_app: Path, store_url: str, tmp_path: Path
) -> None:
    import signal
    import subprocess
    import sys
    import time

    from doorstep.store import open_store
    from doorstep.store.tables import runs

    frame = pl.read_parquet(churn_app / "customers.parquet").head(ROWS)
    frame = frame.with_columns(
        pl.when(pl.int_range(pl.len()) % 50 == 7)
        .then(-3)
        .otherwise(pl.col("tenure_months"))
        .alias("tenure_months")
    )
    path = churn_app / "some.parquet"
    frame.write_parquet(path)
    rejects = tmp_path / "rejects.csv"
    open_store(store_url).close()  # migrated before the child starts
    spec = churn_app / "doorstep.yaml"
    child = subprocess.Popen(
        [sys.executable, "-c", KILLED_CHILD, str(spec), store_url, str(path), str(rejects)],
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            with open_store(store_url) as store:
                listed = store.list_runs(RunQuery()).items
            if listed and listed[0].rows >= 200:
                break
            assert child.poll() is None, "the run finished before it could be killed"
            assert time.monotonic() < deadline
            time.sleep(0.02)
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=10)
    finally:
        if child.poll() is None:
            child.kill()
    app = load_app(spec)
    with open_store(store_url) as store:
        [run] = store.list_runs(RunQuery()).items
        assert run.state == "running" and 200 <= run.rows < ROWS
        with pytest.raises(ConflictError, match="cannot be resumed"):  # its runner holds it
            resume_run(app, store, run.id, actor="t")
        with store.engine.begin() as conn:  # ten minutes later: the dead runner's lease expired
            conn.execute(
                runs.update()
                .where(runs.c.id == run.id)
                .values(lease_expires_at=datetime.now(UTC) - timedelta(seconds=1))
            )
        done = resume_run(app, store, run.id, actor="t")
        made = recorded(store)
        sent = keys(store)
    assert done.state == "succeeded" and done.attempts == 2
    assert (done.rows, done.rejected, done.decided) == (ROWS, 10, ROWS - 10)
    rows = sorted(d.lineage["file"]["row"] for d in made)
    assert len(rows) == len(set(rows)) == ROWS - 10  # every row once
    ids = file_decision_ids(done)
    assert all(d.id == ids(d.lineage["file"]["row"]) for d in made)
    assert len(sent) == len(set(sent)) == done.deliveries
    assert pl.read_csv(rejects)["row"].to_list() == [r + 1 for r in range(ROWS) if r % 50 == 7]
