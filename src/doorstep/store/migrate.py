"""Apply the store's Alembic migrations from code (no ``alembic.ini``; works from a wheel)."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from doorstep.store.engine import WRITE, translate_errors

__all__ = ["alembic_config", "current_revision", "head_revision", "upgrade"]

SCRIPT_LOCATION = "doorstep.store:migrations"
_MIGRATION_LOCK = 0x646F6F72  # "door": the advisory lock id that serialises migrations
MIGRATION_WAIT = 300.0
"""Seconds a process waits for another one's migration on SQLite (an ordinary write waits the
store's busy timeout, 5 s by default): a new store's migrations on a loaded machine can hold
the write lock longer than that, and the second of two processes started together must wait,
not fail."""


def alembic_config() -> Config:
    """An Alembic config pointing at the migrations shipped inside the package."""
    config = Config()
    config.set_main_option("script_location", SCRIPT_LOCATION)
    return config


def head_revision() -> str:
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None
    return head


def current_revision(engine: sa.Engine) -> str | None:
    with translate_errors(), engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def upgrade(engine: sa.Engine, revision: str = "head") -> str | None:
    """Bring the database to ``revision`` (default: the newest); returns the revision now
    applied. Safe to call from many processes at once: they take turns (SQLite write lock,
    PostgreSQL advisory lock) and the later ones find nothing left to do."""
    config = alembic_config()
    with translate_errors():
        if current_revision(engine) == head_revision() and revision == "head":
            return head_revision()
        with engine.connect().execution_options(**{WRITE: True}) as conn:
            if conn.dialect.name != "sqlite":
                return _upgrade_on(conn, config, revision)
            # on the driver's connection: through SQLAlchemy the pragma would begin the
            # transaction (BEGIN IMMEDIATE, where a second process waits) with the usual timeout
            cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
            usual = cursor.execute("PRAGMA busy_timeout").fetchone()[0]
            try:
                cursor.execute(f"PRAGMA busy_timeout = {int(MIGRATION_WAIT * 1000)}")
                return _upgrade_on(conn, config, revision)
            finally:
                cursor.execute(f"PRAGMA busy_timeout = {int(usual)}")
                cursor.close()


def _upgrade_on(conn: sa.Connection, config: Config, revision: str) -> str | None:
    with conn.begin():
        if conn.dialect.name == "postgresql":
            conn.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": _MIGRATION_LOCK})
        config.attributes["connection"] = conn
        command.upgrade(config, revision)
    return MigrationContext.configure(conn).get_current_revision()
