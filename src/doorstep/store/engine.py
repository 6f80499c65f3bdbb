"""Engines for SQLite and PostgreSQL, their durability settings, and error translation.

SQLite runs in WAL mode with ``synchronous=FULL`` (a commit is on disk before ``record`` returns;
``NORMAL`` may lose the last transactions on power loss), foreign keys on, and a busy timeout.
Write transactions start with ``BEGIN IMMEDIATE`` so that concurrent writers queue on the
database lock instead of failing mid-transaction; reads use a plain deferred ``BEGIN``.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event, exc

from doorstep.errors import StoreError, StoreUnavailableError
from doorstep.store.canonical import canonical_json

__all__ = [
    "DEFAULT_BUSY_TIMEOUT",
    "DEFAULT_POOL_SIZE",
    "WRITE",
    "create_store_engine",
    "resolve_url",
    "store_home",
    "translate_errors",
]

DEFAULT_BUSY_TIMEOUT = 5.0
DEFAULT_POOL_SIZE = 5
"""Connections a process keeps open to the store when nothing else is said; as many more are
opened for a burst and closed when it ends (``max_overflow``)."""
WRITE = "doorstep_write"
"""Execution option marking a connection whose transaction writes (``BEGIN IMMEDIATE``)."""


def resolve_url(url: str | None, home: Path) -> str:
    """``url``, else ``DOORSTEP_DATABASE_URL``, else a SQLite file under ``home``."""
    if url is None:
        url = os.environ.get("DOORSTEP_DATABASE_URL") or None
    if url is None:
        home.mkdir(parents=True, exist_ok=True)
        return f"sqlite:///{home / 'doorstep.db'}"
    if url.startswith(("postgresql://", "postgres://")):
        url = "postgresql+psycopg://" + url.split("://", 1)[1]
    return url


def store_home(url: str | None, home: Path) -> Path:
    """The folder a store keeps its own files in (the reference profiles of monitoring): the
    folder of its SQLite file (``home`` itself for the default ``<home>/doorstep.db``), or
    ``home`` for a server database (PostgreSQL) or an in-memory SQLite. ``url`` is resolved as
    :func:`resolve_url` resolves it; nothing is created."""
    if url is None:
        url = os.environ.get("DOORSTEP_DATABASE_URL") or None
    if url is None:
        return home
    parsed = _parse_url(url)
    database = parsed.database or ""
    if parsed.get_backend_name() != "sqlite" or database in ("", ":memory:"):
        return home
    if database.startswith("file:"):
        return home
    return Path(database).parent


def create_store_engine(
    url: str,
    *,
    busy_timeout: float = DEFAULT_BUSY_TIMEOUT,
    synchronous: str = "FULL",
    pool_size: int = DEFAULT_POOL_SIZE,
) -> sa.Engine:
    """An engine configured for the store: pragmas and ``BEGIN IMMEDIATE`` on SQLite, a
    pre-pinged pool with a connect timeout on PostgreSQL. The pool keeps ``pool_size``
    connections and opens up to as many more for a burst: a process holds at most
    ``2 * pool_size`` connections to the database."""
    if pool_size < 1:
        raise StoreError(f"The pool size must be at least 1; got {pool_size} instead.")
    parsed = _parse_url(url)
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        database = parsed.database or ""
        if database and database != ":memory:" and not database.startswith("file:"):
            _create_private(Path(database))
        engine = sa.create_engine(
            parsed,
            connect_args={"timeout": busy_timeout, "check_same_thread": False},
            json_serializer=canonical_json,
            pool_size=pool_size,
            max_overflow=pool_size,
        )
        _configure_sqlite(engine, busy_timeout=busy_timeout, synchronous=synchronous)
        return engine
    if backend == "postgresql":
        return sa.create_engine(
            parsed,
            connect_args={"connect_timeout": max(1, round(busy_timeout))},
            json_serializer=canonical_json,
            pool_size=pool_size,
            max_overflow=pool_size,
            pool_pre_ping=True,
            pool_timeout=busy_timeout * 2,
        )
    raise StoreError(
        f"The database URL must be sqlite:///PATH or postgresql://…; got {parsed.drivername}:// "
        "instead. Set --db or DOORSTEP_DATABASE_URL to one of these."
    )


def _create_private(path: Path) -> None:
    """Create the SQLite file readable and writable by its owner only (0600, like the session
    secret): it holds the decisions' inputs, personal data included. SQLite gives its ``-wal``
    and ``-shm`` files the database file's permissions. An existing file is left as it is."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    except FileExistsError:
        pass


def _parse_url(url: str) -> sa.URL:
    """The database URL parsed, or a :class:`StoreError` naming the setting (never the URL,
    which may hold a password)."""
    try:
        return sa.make_url(url)
    except ValueError:  # SQLAlchemy's int() of the port
        reason = "its port is not a number"
    except exc.ArgumentError:
        reason = "it is not a URL"
    raise StoreError(
        f"The database URL (--db or DOORSTEP_DATABASE_URL) cannot be read: {reason}. Write it "
        "as sqlite:///PATH or postgresql://USER:PASSWORD@HOST:PORT/DATABASE, the port a "
        "number (5432 by default), and special characters of the password %-encoded."
    )


def _configure_sqlite(engine: sa.Engine, *, busy_timeout: float, synchronous: str) -> None:
    if synchronous.upper() not in {"FULL", "NORMAL", "EXTRA", "OFF"}:
        raise StoreError(f"synchronous must be FULL, NORMAL, EXTRA or OFF; got {synchronous!r}")

    @event.listens_for(engine, "connect")
    def _connect(dbapi_connection: Any, _record: Any) -> None:
        # let SQLAlchemy's "begin" event, not the driver, decide how transactions start
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute(f"PRAGMA busy_timeout = {int(busy_timeout * 1000)}")
            cursor.execute("PRAGMA journal_mode = WAL")
            cursor.execute(f"PRAGMA synchronous = {synchronous.upper()}")
            cursor.execute("PRAGMA foreign_keys = ON")
        finally:
            cursor.close()

    @event.listens_for(engine, "begin")
    def _begin(conn: sa.Connection) -> None:
        if conn.get_execution_options().get(WRITE):
            conn.exec_driver_sql("BEGIN IMMEDIATE")
        else:
            conn.exec_driver_sql("BEGIN")


@contextmanager
def translate_errors() -> Iterator[None]:
    """Turn database failures into doorstep errors: a locked, unreachable or overloaded
    database is ``StoreUnavailableError`` (retry later); anything else is ``StoreError``."""
    try:
        yield
    except (exc.OperationalError, exc.InterfaceError, exc.TimeoutError) as error:
        raise StoreUnavailableError(
            f"The database is unavailable or locked ({_first_line(error)}). Retry later; if it "
            "persists, check that the database is running and reachable."
        ) from error
    except exc.DBAPIError as error:
        if error.connection_invalidated:
            raise StoreUnavailableError(
                f"The connection to the database was lost ({_first_line(error)}). Retry later."
            ) from error
        raise StoreError(f"The database refused the operation: {_first_line(error)}") from error
    except exc.SQLAlchemyError as error:
        raise StoreError(f"The store failed: {_first_line(error)}") from error


def _first_line(error: BaseException) -> str:
    text = str(getattr(error, "orig", None) or error).strip()
    return text.splitlines()[0] if text else type(error).__name__
