"""Migrations: shipped in the package, idempotent, and in step with the table definitions."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from doorstep.store import Store, upgrade
from doorstep.store.migrate import current_revision, head_revision
from doorstep.store.tables import metadata


def test_open_store_migrates_to_head(store: Store) -> None:
    assert current_revision(store.engine) == head_revision() == "0002"
    assert upgrade(store.engine) == "0002"  # again: nothing to do


def test_tables_match_the_migrations(store: Store) -> None:
    with store.engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": False})
        diff = [d for d in compare_metadata(context, metadata) if d[0] != "remove_table"]
    assert diff == []


def test_script_location_is_inside_the_package() -> None:
    from importlib.resources import files

    versions = files("doorstep.store") / "migrations" / "versions"
    assert (versions / "0001_initial.py").is_file()
