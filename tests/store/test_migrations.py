"""Migrations: shipped in the package, idempotent, and in step with the table definitions."""

from __future__ import annotations

import sqlite3
import threading
import time
from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from doorstep.store import Store, open_store, upgrade
from doorstep.store.migrate import current_revision, head_revision
from doorstep.store.tables import metadata


def test_open_store_migrates_to_head(store: Store) -> None:
    assert current_revision(store.engine) == head_revision() == "0014"
    assert upgrade(store.engine) == "0014"  # again: nothing to do


def test_tables_match_the_migrations(store: Store) -> None:
    with store.engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": False})
        diff = [d for d in compare_metadata(context, metadata) if d[0] != "remove_table"]
    assert diff == []


def test_script_location_is_inside_the_package() -> None:
    from importlib.resources import files

    versions = files("doorstep.store") / "migrations" / "versions"
    assert (versions / "0001_initial.py").is_file()


def test_upgrade_from_0001_keeps_the_decisions(store_url: str) -> None:
    from tests.store.factories import decision, with_deliveries

    from doorstep.store import RecordRequest
    from doorstep.store import Store as StoreClass
    from doorstep.store.engine import create_store_engine

    engine = create_store_engine(store_url)
    try:
        assert upgrade(engine, "0001") == "0001"
        old = StoreClass(engine)
        kept = decision(1)
        old.record([RecordRequest([kept])], actor="t")  # no outbox yet
        assert upgrade(engine) == head_revision()
        old.record([with_deliveries([decision(2)])], actor="t")
        assert old.get_decision(kept.id) == kept
        assert old.delivery_counts()["pending"] == 1
        assert old.verify_audit().ok
    finally:
        engine.dispose()


def test_upgrade_to_0009_keeps_the_runs_without_options(store_url: str) -> None:
    from datetime import UTC, datetime

    from doorstep.store import Store as StoreClass
    from doorstep.store.engine import create_store_engine
    from doorstep.store.tables import runs

    engine = create_store_engine(store_url)
    try:
        assert upgrade(engine, "0008") == "0008"
        now = datetime.now(UTC)
        with engine.begin() as conn:
            conn.execute(
                runs.insert().values(
                    id="r-1", app="churn", source="db", state="failed", started_at=now,
                    updated_at=now, checkpoint="C-7", errors=[], error="down",
                )
            )  # fmt: skip
        assert upgrade(engine, "0009") == "0009"
        run = StoreClass(engine).get_run("r-1")
        assert run is not None and run.options == {} and run.checkpoint == "C-7"
    finally:
        engine.dispose()


def test_upgrade_to_0011_adds_shadow_decisions_beside_the_decisions(store_url: str) -> None:
    from tests.store.factories import decision

    from doorstep.store import RecordRequest
    from doorstep.store import Store as StoreClass
    from doorstep.store.engine import create_store_engine
    from doorstep.store.shadow_records import shadow_of

    engine = create_store_engine(store_url)
    try:
        assert upgrade(engine, "0009") == "0009"
        old = StoreClass(engine)
        kept = decision(1)
        old.record([RecordRequest([kept])], actor="t")
        assert upgrade(engine) == head_revision()
        assert old.get_decision(kept.id) == kept
        assert old.record_shadow([shadow_of(kept, kept.id)]) == 1
        assert [r.decision_id for p in old.iter_shadow("churn", "v1") for r in p] == [kept.id]
    finally:
        engine.dispose()


def test_a_second_process_waits_for_a_migration_longer_than_a_write_would(tmp_path: Path) -> None:
    """Two processes opening one new SQLite store: the second waits out the first's migration
    even when it holds the write lock past the busy timeout (a loaded machine), and then writes
    time out as usual again."""
    path = tmp_path / "doorstep.db"
    holder = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    holder.execute("PRAGMA journal_mode = WAL")  # as the store's every connection sets
    holder.execute("BEGIN IMMEDIATE")  # as another process's migration does
    released = threading.Timer(1.0, holder.execute, args=("COMMIT",))
    released.start()
    started = time.monotonic()
    try:
        with open_store(f"sqlite:///{path}", busy_timeout=0.2) as store:
            waited = time.monotonic() - started
            assert current_revision(store.engine) == head_revision()
            with store.engine.connect() as conn:
                assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar_one() == 200
    finally:
        released.join()
        holder.close()
    assert waited >= 0.9  # it waited for the lock instead of failing after 0.2 s
