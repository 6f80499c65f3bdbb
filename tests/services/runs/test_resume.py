"""Resuming a run: a run that failed halfway goes on after its checkpoint under the same id and
options; its decisions keep ids derived from the run and the entity, so deciding an entity again
in the same run records nothing twice (the receivers' ``webhook-id`` stays the same)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from doorstep.errors import ConflictError, InputError
from doorstep.runtime.run_scheduler import Scheduler
from doorstep.services.apps.loading import LoadedApp, load_app
from doorstep.services.runs import sources
from doorstep.services.runs.resume import requeue_run, resume_run
from doorstep.services.runs.sources import RunOptions, execute_run, run_by_hand, run_decision_ids
from doorstep.sources.adhoc import open_scan
from doorstep.store import Store
from doorstep.store.protocols import DecisionQuery, DeliveryQuery
from doorstep.store.runs import RunInfo, RunQuery

SCHEDULE = """schedules:
  nightly:
    cron: "0 0 1 1 *"
    source: customer_db
    catch_up: 10000w
    chunk_rows: 100
    deliver: true
"""


@pytest.fixture
def failing_third_chunk(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The third chunk a run decides fails (a model or store error halfway)."""
    decide = sources._decide_chunk
    calls = {"n": 0}

    def third_fails(*args: Any, **kwargs: Any) -> Any:
        calls["n"] += 1
        if calls["n"] == 3:
            raise RuntimeError("the third chunk failed")
        return decide(*args, **kwargs)

    monkeypatch.setattr(sources, "_decide_chunk", third_fails)
    yield
    monkeypatch.setattr(sources, "_decide_chunk", decide)


def decisions_and_keys(store: Store) -> tuple[dict[str, str], list[str]]:
    made = store.list_decisions(DecisionQuery(app="churn", limit=1000)).items
    sent = store.list_deliveries(DeliveryQuery(app="churn", limit=1000)).items
    return {d.entity_id: d.id for d in made}, [d.key for d in sent]


def failed_run(app: LoadedApp, store: Store) -> RunInfo:
    with pytest.raises(RuntimeError, match="third chunk"):
        run_by_hand(
            app, store, "customer_db", None, None, deliver=True, explain=False, chunk_rows=100
        )
    [run] = store.list_runs(RunQuery(app="churn")).items
    return run


def test_a_failed_run_resumes_after_its_checkpoint_under_the_same_id(
    churn_app: Path, store: Store, failing_third_chunk: None
) -> None:
    app = load_app(churn_app / "doorstep.yaml")
    failed = failed_run(app, store)
    assert failed.state == "failed" and "third chunk" in (failed.error or "")
    assert 0 < failed.rows < 300 and failed.options["deliver"] is True
    before, keys_before = decisions_and_keys(store)
    assert len(before) == failed.decided and keys_before

    done = resume_run(app, store, failed.id, actor="t")
    assert done.id == failed.id and done.state == "succeeded" and done.attempts == 2
    assert done.rows == 500 == done.decided + done.rejected and done.error is None
    after, keys_after = decisions_and_keys(store)
    assert len(after) == done.decided  # one decision per entity
    assert {e: after[e] for e in before} == before  # the first ones untouched
    ids = run_decision_ids(done)
    assert all(ids(entity) == decision_id for entity, decision_id in after.items())
    assert set(keys_before) <= set(keys_after) and len(set(keys_after)) == len(keys_after)
    assert len(keys_after) == done.deliveries  # resumed with --deliver, as it started
    with pytest.raises(ConflictError, match="it succeeded"):
        resume_run(app, store, failed.id, actor="t")


def test_an_entity_decided_again_in_the_same_run_is_recorded_once(
    churn_app: Path, store: Store
) -> None:
    """A runner that decides chunks again (as after a crash between a chunk's commit and what
    follows) makes the same decision ids: the store keeps one decision and one delivery each."""
    app = load_app(churn_app / "doorstep.yaml")
    options = RunOptions(chunk_rows=100, deliver=True, explain=False)
    lease = store.start_run("churn", "customer_db", runner="a", lease_seconds=60)
    assert lease is not None
    scan = open_scan(app, "customer_db", None, None)
    try:
        first = execute_run(app, scan, store, lease, options)
        decided, keys = decisions_and_keys(store)
        store.finish_run(lease, "failed", None)  # no effect: finished already
        assert store.reopen_run(first.id, actor="t") is False
        again = replace(lease, run=replace(lease.run, checkpoint=None))
        with store.engine.begin() as conn:  # as if the run had failed before finishing
            from doorstep.store.tables import runs

            conn.execute(
                runs.update().where(runs.c.id == first.id).values(state="failed", error="x")
            )
        assert store.reopen_run(first.id, actor="t")
        taken = store.take_over_run(first.id, runner="b", lease_seconds=60)
        assert taken is not None
        second = execute_run(app, scan, store, replace(again, token=taken.token), options)
    finally:
        scan.close()
    assert decisions_and_keys(store) == (decided, keys)
    assert second.state == "succeeded" and second.decided == first.decided
    assert second.rows == first.rows and second.deliveries == first.deliveries


def test_resume_refuses_another_apps_spec_and_a_query_run_without_its_url(
    churn_app: Path, store: Store, failing_third_chunk: None
) -> None:
    app = load_app(churn_app / "doorstep.yaml")
    url = f"sqlite:///{churn_app / 'features.db'}"
    query = "SELECT * FROM customer_features"
    with pytest.raises(RuntimeError):
        run_by_hand(app, store, None, url, query, deliver=False, explain=False, chunk_rows=100)
    [run] = store.list_runs(RunQuery(app="churn")).items
    assert run.options["query"] == query and url not in str(run.options)
    with pytest.raises(InputError, match="give --url again"):
        resume_run(app, store, run.id, actor="t")
    other = store.start_run("renewals", "db", runner="x", lease_seconds=60)
    assert other is not None and store.finish_run(other, "failed", "down")
    with pytest.raises(InputError, match="of app 'renewals', not 'churn'"):
        resume_run(app, store, other.run.id, actor="t")
    spark = store.start_run(
        "churn", "spark:customers/", runner="x", lease_seconds=60, options={"engine": "spark"}
    )
    assert spark is not None and store.finish_run(spark, "failed", "lost")
    with pytest.raises(InputError, match="decided on Spark"):
        resume_run(app, store, spark.run.id, actor="t")
    done = resume_run(app, store, run.id, actor="t", url=url)
    assert done.state == "succeeded" and done.rows == 500


def test_a_failed_scheduled_run_requeued_is_resumed_by_the_scheduler(
    churn_app: Path, store: Store, failing_third_chunk: None
) -> None:
    spec = churn_app / "doorstep.yaml"
    text = spec.read_text()
    spec.write_text(
        text[: text.index("schedules:")] + SCHEDULE + "\n" + text[text.index("connectors:") :]
    )
    app = load_app(spec)
    now = datetime.now(UTC)
    scheduler = Scheduler([app], store, holder="a", lease_seconds=60)
    try:
        [failed] = scheduler.tick(now)
        assert failed.state == "failed" and failed.schedule == "nightly"
        assert scheduler.tick(now) == []  # a failed run is not retried by itself
        by_hand = store.start_run("churn", "customer_db", runner="x", lease_seconds=60)
        assert by_hand is not None and store.finish_run(by_hand, "failed", "down")
        with pytest.raises(ConflictError, match="started by hand"):
            requeue_run(store, by_hand.run.id, actor="t")
        queued = requeue_run(store, failed.id, actor="t")
        assert queued.state == "running" and queued.runner is None
        [done] = scheduler.tick()
    finally:
        scheduler.close()
    assert done.id == failed.id and done.state == "succeeded" and done.attempts == 2
    decided, keys = decisions_and_keys(store)
    assert len(decided) == done.decided and done.rows == 500 == done.decided + done.rejected
    assert len(keys) == len(set(keys)) == done.deliveries
    with pytest.raises(ConflictError, match="it succeeded"):
        requeue_run(store, failed.id, actor="t")


def test_a_run_interrupted_by_ctrl_c_is_failed_and_resumable_at_once(
    churn_app: Path, store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    decide = sources._decide_chunk
    calls = {"n": 0}

    def interrupted(*args: Any, **kwargs: Any) -> Any:
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyboardInterrupt
        return decide(*args, **kwargs)

    monkeypatch.setattr(sources, "_decide_chunk", interrupted)
    app = load_app(churn_app / "doorstep.yaml")
    with pytest.raises(KeyboardInterrupt):
        run_by_hand(app, store, "customer_db", None, None, False, explain=False, chunk_rows=100)
    [run] = store.list_runs(RunQuery(app="churn")).items
    assert run.state == "failed" and "interrupted" in (run.error or "")
    monkeypatch.setattr(sources, "_decide_chunk", decide)
    done = resume_run(app, store, run.id, actor="t")
    assert done.state == "succeeded" and done.rows == 500
