"""Scheduled runs from a feature source: a run killed halfway (kill -9) and resumed by another
runner decides every entity exactly once; a slot runs once whatever the number of schedulers."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa

from doorstep.runtime.run_scheduler import Scheduler, latest_slot
from doorstep.services.apps.loading import load_app
from doorstep.store import DecisionQuery, Store, open_store
from doorstep.store.runs import RunQuery
from doorstep.store.tables import decisions

SCHEDULE = """schedules:
  nightly:
    cron: "0 0 1 1 *"
    source: customer_db
    catch_up: 10000w
    chunk_rows: 10
    deliver: false
"""

CHILD = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from doorstep.services.runs import sources as runs
    from doorstep.services.apps.loading import load_app
    from doorstep.runtime.run_scheduler import Scheduler
    from doorstep.store import DecisionQuery, open_store

    decide = runs._decide_chunk
    def slow(*args, **kwargs):
        time.sleep(0.05)  # a long run: time to kill it halfway
        return decide(*args, **kwargs)
    runs._decide_chunk = slow
    app = load_app(Path(sys.argv[1]))
    store = open_store(sys.argv[2])
    Scheduler([app], store, lease_seconds=2, run_lease_seconds=2, holder="first").tick()
    """
)


def scheduled_app(churn_app: Path) -> Path:
    spec = churn_app / "doorstep.yaml"
    text = spec.read_text()
    start = text.index("schedules:")
    end = text.index("connectors:")
    spec.write_text(text[:start] + SCHEDULE + "\n" + text[end:])
    return spec


def decided(url: str) -> tuple[int, int]:
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        total = conn.execute(sa.select(sa.func.count()).select_from(decisions)).scalar_one()
        distinct = conn.execute(
            sa.select(sa.func.count(sa.distinct(decisions.c.entity_id)))
        ).scalar_one()
    engine.dispose()
    return int(total), int(distinct)


@pytest.mark.slow
def test_a_run_killed_halfway_resumes_and_decides_every_entity_once(
    churn_app: Path, pg_url: str
) -> None:
    spec = scheduled_app(churn_app)
    open_store(pg_url).close()  # migrated before the child starts
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(spec), pg_url],
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
    )
    try:
        deadline = time.monotonic() + 60
        while decided(pg_url)[0] < 200:
            assert child.poll() is None, "the run finished before it could be killed"
            assert time.monotonic() < deadline
            time.sleep(0.02)
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=10)
    finally:
        if child.poll() is None:
            child.kill()
    halfway, _ = decided(pg_url)
    assert 200 <= halfway < 500
    app = load_app(spec)
    with open_store(pg_url) as store:
        [run] = store.list_runs(RunQuery(app="churn")).items
        assert run.state == "running" and run.decided == halfway
        scheduler = Scheduler([app], store, lease_seconds=2, run_lease_seconds=2, holder="second")
        assert scheduler.tick() == []  # the dead runner's leases have not expired yet
        time.sleep(2.2)
        [resumed] = scheduler.tick()
        scheduler.close()
        assert scheduler.tick() == []  # the slot is done: never decided again
    assert resumed.state == "succeeded" and resumed.attempts == 2
    assert resumed.rows == resumed.decided + resumed.rejected == 500
    assert decided(pg_url) == (500, 500)


def test_one_run_per_slot_across_schedulers(churn_app: Path, store_url: str) -> None:
    spec = scheduled_app(churn_app)
    app = load_app(spec)
    now = datetime.now(UTC)
    with open_store(store_url) as store:
        first = Scheduler([app], store, holder="a", lease_seconds=60)
        second = Scheduler([app], store, holder="b", lease_seconds=60)
        [done] = first.tick(now)
        assert second.tick(now) == []  # the lease is first's: one runner at a time
        assert first.tick(now) == []  # the slot has its run
        first.close()
        second.close()
        page = store.list_runs(RunQuery(app="churn"))
    assert len(page.items) == 1
    run = page.items[0]
    assert run.slot == latest_slot(app.spec.schedules["nightly"], now)
    assert run.state == "succeeded" and run.decided + run.rejected == 500
    assert done.id == run.id


def test_rejected_entities_are_counted_and_kept_with_the_run(
    churn_app: Path, store_url: str
) -> None:
    import sqlite3

    from doorstep.services.runs.sources import RunOptions, execute_run
    from doorstep.sources.adhoc import open_scan

    with sqlite3.connect(churn_app / "features.db") as db:
        db.execute(
            "UPDATE customer_features SET tenure_months = NULL WHERE customer_id IN "
            "(SELECT customer_id FROM customer_features ORDER BY customer_id LIMIT 3)"
        )
    app = load_app(churn_app / "doorstep.yaml")
    scan = open_scan(app, "customer_db", None, None)
    with open_store(store_url) as store:
        lease = store.start_run("churn", "customer_db", runner="t", lease_seconds=60)
        assert lease is not None
        run = execute_run(app, scan, store, lease, RunOptions(chunk_rows=64, deliver=False))
        total = len(store.list_decisions(DecisionQuery(app="churn", limit=1000)).items)
    scan.close()
    assert run.state == "succeeded" and run.rows == 500
    assert run.rejected == 3 and run.decided == 497 == total
    assert {e["rule"] for e in run.errors} == {"required"}
    assert all(e["field"] == "tenure_months" for e in run.errors)


def with_duplicates(features: Path, copies: dict[int, int]) -> list[str]:
    """Let the churn features hold ``copies[i]`` more rows for the i-th customer (in id order);
    returns the customer ids in order."""
    import sqlite3

    with sqlite3.connect(features) as db:
        db.execute("CREATE TABLE unkeyed AS SELECT * FROM customer_features")
        db.execute("DROP TABLE customer_features")
        db.execute("ALTER TABLE unkeyed RENAME TO customer_features")
        ids = [r[0] for r in db.execute("SELECT customer_id FROM customer_features ORDER BY 1")]
        for index, extra in copies.items():
            for _ in range(extra):
                db.execute(
                    "INSERT INTO customer_features SELECT * FROM customer_features "
                    "WHERE customer_id = ? LIMIT 1",
                    (ids[index],),
                )
    return ids


def test_an_entity_with_two_rows_is_refused_never_decided_twice(
    churn_app: Path, store: Store
) -> None:
    """Repeated ids inside a chunk, across a chunk boundary, over more than a chunk and at the
    end: each of their rows is refused (``entity_ambiguous``), the other entities decided once."""
    from doorstep.services.runs.sources import RunOptions, execute_run
    from doorstep.sources.adhoc import open_scan

    copies = {5: 1, 9: 1, 19: 11, 499: 1}  # chunks of 10: index 9 ends the first
    ids = with_duplicates(churn_app / "features.db", copies)
    app = load_app(churn_app / "doorstep.yaml")
    scan = open_scan(app, "customer_db", None, None)
    lease = store.start_run("churn", "customer_db", runner="t", lease_seconds=60)
    assert lease is not None
    try:
        run = execute_run(app, scan, store, lease, RunOptions(chunk_rows=10, deliver=False))
    finally:
        scan.close()
    refused = {ids[i] for i in copies}
    made = store.list_decisions(DecisionQuery(app="churn", limit=1000)).items
    assert sorted(d.entity_id for d in made) == sorted(set(ids) - refused)
    repeated_rows = sum(extra + 1 for extra in copies.values())
    assert run.state == "succeeded" and run.rows == 500 + sum(copies.values())
    assert run.decided == 496 and run.rejected == repeated_rows
    ambiguous = [e for e in run.errors if e["rule"] == "entity_ambiguous"]
    assert len(ambiguous) == repeated_rows and {e["entity_id"] for e in ambiguous} == refused
    assert run.checkpoint == ids[-1]


def test_a_checkpoint_never_cuts_an_entity_in_two(churn_app: Path, store: Store) -> None:
    """A run that fails after its first chunk, whose last id goes on in the next, checkpoints
    before that id: resumed, it reads every row of it."""
    from doorstep.services.runs.sources import RunOptions, execute_run
    from doorstep.sources.adhoc import open_scan

    ids = with_duplicates(churn_app / "features.db", {9: 1})
    app = load_app(churn_app / "doorstep.yaml")
    scan = open_scan(app, "customer_db", None, None)
    lease = store.start_run("churn", "customer_db", runner="t", lease_seconds=60)
    assert lease is not None

    def crash(_: object) -> None:
        raise RuntimeError("the runner's machine went away")

    try:
        with pytest.raises(RuntimeError):
            execute_run(app, scan, store, lease, RunOptions(chunk_rows=10), on_chunk=crash)
        run = store.get_run(lease.run.id)
        assert run is not None and run.state == "failed"
        assert run.checkpoint == ids[8] and run.decided == 9
        after = [entity for chunk in scan.scan(run.checkpoint, 10) for entity, _ in chunk]
    finally:
        scan.close()
    assert after[:2] == [ids[9], ids[9]]
