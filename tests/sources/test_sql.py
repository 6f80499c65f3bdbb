"""The SQL feature source against real databases: what a database error means (an id it
refuses as data, a dropped connection, an outage), and rows it holds twice for one id.
PostgreSQL is the session's throwaway cluster; MariaDB the server on 127.0.0.1:3306."""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Any

import pymysql
import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url
from tests.connectors.test_sql import MARIADB, mariadb_server, mariadb_url  # noqa: F401

from doorstep.core.spec.sources import SQLSourceSpec
from doorstep.errors import (
    ConnectorSpecError,
    EntityIdRefusedError,
    FeatureSourceUnavailableError,
)
from doorstep.sources.sql import SQLFeatureSource


def make_table(url: str, *, id_type: str = "string", rows: int = 10) -> None:
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        key = "BIGINT" if id_type == "int" else "VARCHAR(32)"
        conn.execute(sa.text(f"CREATE TABLE f (customer_id {key}, plan VARCHAR(16))"))
        conn.execute(
            sa.text("INSERT INTO f VALUES (:id, :plan)"),
            [{"id": i if id_type == "int" else f"C-{i}", "plan": "basic"} for i in range(rows)],
        )
    engine.dispose()


def open_source(url: str, tmp_path: Path, **settings: Any) -> SQLFeatureSource:
    spec = SQLSourceSpec.model_validate({"type": "sql", "url": url, "table": "f", **settings})
    return SQLFeatureSource("db", spec, id_field="customer_id", fields=["plan"], base_dir=tmp_path)


def test_an_id_postgresql_cannot_hold_is_refused_as_data_not_an_outage(
    pg_url: str, tmp_path: Path
) -> None:
    make_table(pg_url)
    source = open_source(pg_url, tmp_path)
    try:
        with pytest.raises(EntityIdRefusedError, match="'db' \\(sql\\) refused an id"):
            source.lookup(["C-1", "C-\x00"])  # what the lookup's own check keeps from it
        assert set(source.lookup(["C-1", "C-2"])) == {"C-1", "C-2"}  # the pool is fine
    finally:
        source.close()


def test_an_int_id_beyond_64_bits_matches_no_row(pg_url: str, tmp_path: Path) -> None:
    make_table(pg_url, id_type="int")
    source = open_source(pg_url, tmp_path, id_type="int")
    try:
        found = source.lookup(["3", "99999999999999999999", "x"])
    finally:
        source.close()
    assert list(found) == ["3"]


def kill_connections(database: str) -> int:
    """KILL every connection to ``database`` from another connection, as a failover does."""
    killed = 0
    with pymysql.connect(**MARIADB, autocommit=True) as conn, conn.cursor() as cursor:
        cursor.execute("SELECT id FROM information_schema.processlist WHERE db = %s", (database,))
        for (thread,) in cursor.fetchall():
            cursor.execute(f"KILL {int(thread)}")
            killed += 1
    return killed


def test_connections_mariadb_dropped_are_replaced_on_the_next_lookup(
    mariadb_url: str,  # noqa: F811
    tmp_path: Path,
) -> None:
    make_table(mariadb_url)
    source = open_source(mariadb_url, tmp_path, pool_size=3)
    try:
        held = [source.engine.connect() for _ in range(3)]  # three pooled connections
        for conn in held:
            conn.close()
        assert kill_connections(str(make_url(mariadb_url).database)) == 3
        # each dropped connection is found on checkout (pymysql raises its own
        # OperationalError there, not SQLAlchemy's): once more, on a fresh one
        for _ in range(4):
            assert list(source.lookup(["C-1"])) == ["C-1"]
    finally:
        source.close()


def test_connections_postgresql_dropped_are_replaced_on_the_next_lookup(
    pg_url: str, tmp_path: Path
) -> None:
    make_table(pg_url)
    source = open_source(pg_url, tmp_path, pool_size=3)
    try:
        held = [source.engine.connect() for _ in range(3)]
        for conn in held:
            conn.close()
        admin = sa.create_engine(pg_url)
        with admin.begin() as conn:
            killed = conn.execute(
                sa.text(
                    "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND pid <> pg_backend_pid()"
                )
            ).scalar()
        admin.dispose()
        assert killed == 3
        for _ in range(4):
            assert list(source.lookup(["C-1"])) == ["C-1"]
    finally:
        source.close()


def test_a_database_that_stays_down_is_unavailable(tmp_path: Path) -> None:
    source = open_source("mysql+pymysql://root@127.0.0.1:1/none", tmp_path, timeout=0.5)
    try:
        with pytest.raises(FeatureSourceUnavailableError, match="retry later") as raised:
            source.lookup(["C-1"])
    finally:
        source.close()
    assert type(raised.value) is FeatureSourceUnavailableError


@pytest.fixture(params=["sqlite", "postgresql", "mariadb"])
def any_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'f.db'}"
    return str(
        request.getfixturevalue("pg_url" if request.param == "postgresql" else "mariadb_url")
    )


def test_an_id_with_two_rows_says_so(any_url: str, tmp_path: Path) -> None:
    make_table(any_url, rows=3)
    engine = sa.create_engine(any_url)
    with engine.begin() as conn:
        conn.execute(sa.text("INSERT INTO f VALUES ('C-1', 'premium'), ('C-1', 'plus')"))
    engine.dispose()
    source = open_source(any_url, tmp_path)
    try:
        found = source.lookup(["C-0", "C-1", "C-9"])
    finally:
        source.close()
    assert sorted(found) == ["C-0", "C-1"]
    assert (found["C-0"].rows, found["C-1"].rows) == (1, 3)


def test_a_server_that_is_down_is_asked_once_per_lookup(tmp_path: Path) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    source = open_source(f"postgresql+psycopg://app@127.0.0.1:{port}/app", tmp_path)
    connects: list[int] = []
    sa.event.listen(source.engine, "do_connect", lambda *args: connects.append(1))
    try:
        for _ in range(2):
            with pytest.raises(FeatureSourceUnavailableError, match="Connection refused"):
                source.lookup(["C-1"])
    finally:
        source.close()
    assert len(connects) == 2  # no second try on a connection that was never pooled


def test_the_probe_runs_the_lookup_for_no_id(any_url: str, tmp_path: Path) -> None:
    make_table(any_url, rows=3)
    good = "SELECT customer_id, plan FROM f WHERE customer_id IN :ids"
    sources = {
        "table": open_source(any_url, tmp_path),
        "query": open_source_of(any_url, tmp_path, query=good),
    }
    broken = {
        "table": open_source(any_url, tmp_path, columns={"plan": "plan_typo"}),
        "query": open_source_of(any_url, tmp_path, query=good.replace("plan", "plna")),
    }
    try:
        for source in sources.values():
            source.probe()
        for key, source in broken.items():
            with pytest.raises(ConnectorSpecError) as raised:
                source.probe()
            assert raised.value.key == key
            assert "the database refuses the lookup" in raised.value.message
    finally:
        for source in [*sources.values(), *broken.values()]:
            source.close()


def test_a_probe_that_runs_out_of_time_is_no_spec_problem(pg_url: str, tmp_path: Path) -> None:
    make_table(pg_url)
    slow = "SELECT * FROM f WHERE customer_id IN :ids OR (SELECT pg_sleep(2)) IS NULL"
    source = open_source_of(pg_url, tmp_path, query=slow, timeout=0.3)
    try:
        with pytest.raises(FeatureSourceUnavailableError, match="statement timeout"):
            source.probe()
    finally:
        source.close()


def open_source_of(url: str, tmp_path: Path, **settings: Any) -> SQLFeatureSource:
    spec = SQLSourceSpec.model_validate({"type": "sql", "url": url, **settings})
    return SQLFeatureSource("db", spec, id_field="customer_id", fields=["plan"], base_dir=tmp_path)
