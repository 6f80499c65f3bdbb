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
from doorstep.store import DecisionQuery, open_store
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
