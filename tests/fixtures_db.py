"""Database fixtures: a throwaway PostgreSQL cluster per session, a database per test, and the
``store_url`` / ``store`` fixtures parametrised over SQLite and PostgreSQL (``database``).

``store_url`` is an empty database: a new SQLite file, or a new PostgreSQL database (the tests
of migrations start from there). ``store`` is a store opened on a copy of the session's migrated
SQLite file, or on the session's migrated PostgreSQL store database, emptied for each test
(every table truncated, other sessions ended): migrating a new database for each of some 350
tests took most of their set-up, on PostgreSQL most of their time.

A conftest where the database is incidental overrides ``database`` with a SQLite-only fixture
(see tests/web/conftest.py); a module there whose behaviour differs on PostgreSQL asks for both
again with ``pytestmark = ON_BOTH_DATABASES``. A test that uses PostgreSQL must be marked
``postgres`` (tests/markers.py does it for the fixtures here); an unmarked test that starts a
cluster or asks for a database FAILS.

The cluster runs as the ``postgres`` user (initdb refuses root) in a ``mktemp -d`` folder, on a
free port of 127.0.0.1 with its socket in that folder and ``fsync=off``. When the PostgreSQL
binaries are missing the PostgreSQL tests FAIL, unless ``DOORSTEP_TEST_POSTGRES=skip``.
Load with ``pytest_plugins = ["tests.fixtures_db"]`` in the root ``conftest.py``.
"""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from doorstep.store import Store, open_store

__all__ = [
    "DATABASES",
    "ON_BOTH_DATABASES",
    "PostgresCluster",
    "database",
    "database_url",
    "pg_cluster",
    "pg_store_database",
    "pg_url",
    "sqlite_store_database",
    "store",
    "store_url",
]

SKIP_ENV = "DOORSTEP_TEST_POSTGRES"
DATABASES = ("sqlite", "postgresql")
ON_BOTH_DATABASES = pytest.mark.parametrize("database", DATABASES, indirect=True)
"""For a module under a SQLite-only ``database``: its tests run on both databases again."""

_running: list[pytest.Item] = []
"""The test being run (set before its fixtures), for :func:`require_postgres_marker`."""


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    _running[:] = [item]


def require_postgres_marker(item: pytest.Item | None = None) -> None:
    """Fail ``item`` (default: the running test) unless it is marked ``postgres``:
    ``-m "not postgres"`` must never need a PostgreSQL server."""
    item = item or (_running[0] if _running else None)
    if item is not None and item.get_closest_marker("postgres") is None:
        pytest.fail(
            f"{item.nodeid} uses PostgreSQL but is not marked postgres: add "
            "@pytest.mark.postgres, or use the fixtures of tests/fixtures_db.py, which "
            "tests/markers.py marks",
            pytrace=False,
        )


def _pg_bin(name: str) -> str | None:
    found = shutil.which(name)
    if found:
        return found
    candidates = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"), reverse=True)
    return candidates[0] if candidates else None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _as_postgres(args: list[str]) -> list[str]:
    if os.geteuid() == 0:
        return ["runuser", "-u", "postgres", "--", *args]
    return args


@dataclass
class PostgresCluster:
    """One throwaway cluster; ``url(db)`` gives a SQLAlchemy URL for a database in it."""

    folder: Path
    port: int
    pg_ctl: str

    @property
    def data(self) -> Path:
        return self.folder / "data"

    def url(self, database: str = "postgres") -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{database}"

    @classmethod
    def start(cls) -> PostgresCluster:
        require_postgres_marker()
        initdb, pg_ctl = _pg_bin("initdb"), _pg_bin("pg_ctl")
        if not initdb or not pg_ctl:
            raise RuntimeError(
                "PostgreSQL binaries (initdb, pg_ctl) are missing: install them "
                "(apt-get install -y postgresql) or set DOORSTEP_TEST_POSTGRES=skip"
            )
        folder = Path(tempfile.mkdtemp(prefix="doorstep-pg-"))
        if os.geteuid() == 0:
            shutil.chown(folder, "postgres", "postgres")
        cluster = cls(folder=folder, port=_free_port(), pg_ctl=pg_ctl)
        try:
            subprocess.run(
                _as_postgres(
                    [
                        initdb,
                        "-D",
                        str(cluster.data),
                        "-U",
                        "postgres",
                        "--auth=trust",
                        "-E",
                        "UTF8",
                    ]
                ),
                check=True,
                capture_output=True,
            )
            cluster._ctl(
                "start", "-w", "-t", "30", "-l", str(folder / "log"), "-o", cluster._opts()
            )
        except BaseException:
            cluster.stop()
            raise
        return cluster

    def _opts(self) -> str:
        return (
            f"-p {self.port} -c listen_addresses=127.0.0.1 -c unix_socket_directories={self.folder}"
            " -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200"
        )

    def _ctl(self, *args: str) -> None:
        subprocess.run(
            _as_postgres([self.pg_ctl, "-D", str(self.data), *args]),
            check=True,
            capture_output=True,
        )

    def halt(self) -> None:
        """Stop the server (``fast``: sessions ended), keeping its files for :meth:`resume`."""
        self._ctl("stop", "-m", "fast", "-w", "-t", "30")

    def resume(self) -> None:
        """Start the server halted by :meth:`halt` again, on the same port and files."""
        self._ctl("start", "-w", "-t", "30", "-l", str(self.folder / "log"), "-o", self._opts())

    def stop(self) -> None:
        if (self.data / "postmaster.pid").exists():
            with contextlib.suppress(subprocess.CalledProcessError):
                self._ctl("stop", "-m", "immediate", "-w")
        shutil.rmtree(self.folder, ignore_errors=True)

    def create_database(self) -> str:
        import psycopg

        name = f"t_{uuid.uuid4().hex[:16]}"
        with psycopg.connect(self.url().replace("+psycopg", ""), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return name

    def drop_database(self, name: str) -> None:
        import psycopg

        with psycopg.connect(self.url().replace("+psycopg", ""), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[PostgresCluster]:
    """The session's PostgreSQL cluster (stopped and removed at the end, also on failure)."""
    if os.environ.get(SKIP_ENV) == "skip":
        pytest.skip(f"PostgreSQL tests skipped ({SKIP_ENV}=skip)")
    cluster = PostgresCluster.start()
    try:
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture
def pg_url(request: pytest.FixtureRequest) -> Iterator[str]:
    """A URL to a fresh, empty database in the session cluster; dropped afterwards."""
    require_postgres_marker(request.node)  # before the session's cluster is asked for
    pg_cluster: PostgresCluster = request.getfixturevalue("pg_cluster")
    name = pg_cluster.create_database()
    try:
        yield pg_cluster.url(name)
    finally:
        pg_cluster.drop_database(name)


def database_url(request: pytest.FixtureRequest, tmp_path: Path, database: str) -> str:
    """A URL to an empty ``database``: a SQLite file under ``tmp_path``, or a PostgreSQL
    database of the session's cluster (``pg_url``)."""
    if database == "sqlite":
        return f"sqlite:///{tmp_path / 'doorstep.db'}"
    if database != "postgresql":
        raise ValueError(f"database must be one of {DATABASES}, got {database!r}")
    return str(request.getfixturevalue("pg_url"))


@pytest.fixture(params=DATABASES)
def database(request: pytest.FixtureRequest) -> str:
    """The database of ``store_url`` and ``store``: ``sqlite`` or ``postgresql``."""
    return str(request.param)


@pytest.fixture
def store_url(request: pytest.FixtureRequest, database: str, tmp_path: Path) -> str:
    """A URL to an empty database: a SQLite file under ``tmp_path``, or a PostgreSQL database."""
    return database_url(request, tmp_path, database)


@pytest.fixture
def other_url(request: pytest.FixtureRequest, database: str, tmp_path: Path) -> Iterator[str]:
    """A second empty database beside ``store_url``'s, of the same kind."""
    if database == "sqlite":
        yield f"sqlite:///{tmp_path / 'other.db'}"
        return
    cluster = request.getfixturevalue("pg_cluster")
    name = cluster.create_database()
    try:
        yield cluster.url(name)
    finally:
        cluster.drop_database(name)


@pytest.fixture(scope="session")
def sqlite_store_database(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The session's migrated SQLite file for ``store``, copied for each test."""
    path = tmp_path_factory.mktemp("store") / "migrated.db"
    open_store(f"sqlite:///{path}").close()  # the last connection folds the WAL into the file
    return path


@pytest.fixture(scope="session")
def pg_store_database(pg_cluster: PostgresCluster) -> str:
    """The URL of the session's PostgreSQL database for ``store``, migrated once."""
    url = pg_cluster.url(pg_cluster.create_database())
    open_store(url).close()
    return url


def _emptied(url: str) -> str:
    """``url``'s database with no other session connected and every table of the store as the
    migrations left it (identities restarted): emptied, with the rows the migrations seed (the
    key generation's counter) put back as they were after migrating."""
    import psycopg
    from psycopg import sql

    with psycopg.connect(url.replace("+psycopg", ""), autocommit=True) as conn:
        conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
        names = [
            row[0]
            for row in conn.execute(
                "SELECT tablename FROM pg_tables"
                " WHERE schemaname = 'public' AND tablename <> 'alembic_version'"
            )
        ]
        if url not in _SEEDED:  # the first time: the database is as migrated
            _SEEDED[url] = {
                name: rows
                for name in names
                if (
                    rows := conn.execute(
                        sql.SQL("SELECT * FROM {}").format(sql.Identifier(name))
                    ).fetchall()
                )
            }
        conn.execute(
            sql.SQL("TRUNCATE {} RESTART IDENTITY CASCADE").format(
                sql.SQL(", ").join(map(sql.Identifier, names))
            )
        )
        for name, rows in _SEEDED[url].items():
            marks = sql.SQL(", ").join(sql.Placeholder() * len(rows[0]))
            with conn.cursor() as cursor:
                cursor.executemany(
                    sql.SQL("INSERT INTO {} VALUES ({})").format(sql.Identifier(name), marks), rows
                )
    return url


_SEEDED: dict[str, dict[str, list[tuple[Any, ...]]]] = {}
"""Per session database: the rows its migrations seeded, read before it was first emptied."""


@pytest.fixture
def store(request: pytest.FixtureRequest, database: str, tmp_path: Path) -> Iterator[Store]:
    """An opened (migrated) store: on a copy of the session's migrated SQLite file, or on the
    session's PostgreSQL store database, emptied."""
    if database == "postgresql":
        require_postgres_marker(request.node)  # before the session's cluster is asked for
        url = _emptied(request.getfixturevalue("pg_store_database"))
    else:
        path = tmp_path / "doorstep.db"
        shutil.copyfile(request.getfixturevalue("sqlite_store_database"), path)
        url = f"sqlite:///{path}"
    opened = open_store(url)
    try:
        yield opened
    finally:
        opened.close()
