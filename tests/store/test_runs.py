"""Runs in the store: a chunk recorded twice records its decisions and deliveries once; a failed
run reopened is taken over and goes on; options are kept for a resume."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from tests.store.factories import decision, with_deliveries

from doorstep.store import Store
from doorstep.store.protocols import DecisionQuery, DeliveryQuery
from doorstep.store.runs import ChunkProgress
from doorstep.store.tables import audit_events


def test_a_chunk_recorded_twice_is_recorded_once(store: Store) -> None:
    lease = store.start_run("churn", "customer_db", runner="a", lease_seconds=60)
    assert lease is not None
    chunk = [decision(i) for i in range(3)]
    progress = ChunkProgress(checkpoint="C-2", rows=3, decided=3, deliveries=3)
    store.record_run_chunk(lease, [with_deliveries(chunk)], progress, lease_seconds=60, actor="t")
    again = [*chunk, decision(3)]  # the same decisions (same ids), and one more
    store.record_run_chunk(
        lease,
        [with_deliveries(again)],
        ChunkProgress(checkpoint="C-3", rows=4, decided=4, deliveries=4),
        lease_seconds=60,
        actor="t",
    )
    made = store.list_decisions(DecisionQuery(app="churn", limit=100)).items
    assert sorted(d.id for d in made) == sorted(d.id for d in again)
    sent = store.list_deliveries(DeliveryQuery(app="churn", limit=100)).items
    assert sorted(d.key for d in sent) == sorted(f"{d.id}:retention_offer" for d in again)
    run = store.get_run(lease.run.id)
    assert run is not None and (run.rows, run.decided, run.deliveries) == (4, 4, 4)
    assert run.checkpoint == "C-3"
    assert store.verify_audit().ok


def test_a_failed_run_reopened_is_taken_over_with_its_checkpoint(store: Store) -> None:
    options = {"deliver": True, "explain": None, "chunk_rows": 50, "query": None}
    lease = store.start_run("churn", "db", runner="a", lease_seconds=60, options=options)
    assert lease is not None and lease.run.options == options
    store.record_run_chunk(
        lease,
        [with_deliveries([decision(1)])],
        ChunkProgress(checkpoint="C-1", rows=1, decided=1),
        lease_seconds=60,
        actor="t",
    )
    assert not store.reopen_run(lease.run.id, actor="t")  # running, and held
    assert store.finish_run(lease, "failed", "the source was down")
    assert store.take_over_run(lease.run.id, runner="b", lease_seconds=60) is None
    assert store.reopen_run(lease.run.id, actor="t")
    reopened = store.get_run(lease.run.id)
    assert reopened is not None and reopened.state == "running" and reopened.error is None
    assert [r.id for r in store.expired_runs()] == [lease.run.id]
    taken = store.take_over_run(lease.run.id, runner="b", lease_seconds=60)
    assert taken is not None
    assert (taken.run.checkpoint, taken.run.attempts, taken.run.options) == ("C-1", 2, options)
    assert not store.finish_run(lease, "succeeded", None)  # the first runner's token is void
    assert store.finish_run(taken, "succeeded", None)
    assert not store.reopen_run(lease.run.id, actor="t")  # nothing left to resume
    with store.engine.connect() as conn:
        [event] = conn.execute(
            sa.select(audit_events).where(audit_events.c.kind == "runs.resumed")
        ).all()
    assert (event.subject, event.actor) == (lease.run.id, "t")
    assert event.payload["state"] == "failed" and event.payload["checkpoint"] == "C-1"
    assert event.payload["error"] == "the source was down"
    assert store.verify_audit().ok


def test_a_running_run_whose_runner_died_is_reopened_as_it_is(store: Store) -> None:
    then = datetime.now(UTC) - timedelta(minutes=10)
    lease = store.start_run("churn", "db", runner="a", lease_seconds=60, now=then)
    assert lease is not None and lease.run.options == {}
    assert store.reopen_run(lease.run.id, actor="t")
    assert store.take_over_run(lease.run.id, runner="b", lease_seconds=60) is not None


def test_the_ids_of_a_chunk_of_100_000_are_looked_up(store: Store) -> None:
    from doorstep.ids import new_id
    from doorstep.store.runs import recorded_ids

    made = decision(1)
    store.record([with_deliveries([made])], actor="t")
    ids = [new_id() for _ in range(100_000)] + [made.id]
    with store.engine.connect() as conn:
        assert recorded_ids(conn, ids) == {made.id}


def test_stale_runs_are_listed_by_themselves(store: Store) -> None:
    from doorstep.store.runs import RunQuery

    then = datetime.now(UTC) - timedelta(minutes=10)
    dead = store.start_run("churn", "db", runner="a", lease_seconds=60, now=then)
    live = store.start_run("churn", "db", runner="b", lease_seconds=600)
    done = store.start_run("churn", "db", runner="c", lease_seconds=60, now=then)
    assert dead is not None and live is not None and done is not None
    assert store.finish_run(done, "failed", "down")
    stale = store.list_runs(RunQuery(state="stale")).items
    assert [r.id for r in stale] == [dead.run.id]
    running = store.list_runs(RunQuery(state="running")).items
    assert {r.id for r in running} == {dead.run.id, live.run.id}
