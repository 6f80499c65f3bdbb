"""The SQL connector against real databases: a SQLite file, PostgreSQL (the session's throwaway
cluster from tests/fixtures_db.py) and MariaDB (the server on 127.0.0.1:3306, in a database of
its own; required unless ``DOORSTEP_TEST_MARIADB=skip``)."""

from __future__ import annotations

import json
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
import sqlalchemy as sa

from doorstep.connectors.base import ConnectorContext, Message
from doorstep.connectors.deadline import Deadline
from doorstep.connectors.sql import SQLConnector
from doorstep.core.spec.models import SQLConnectorSpec
from doorstep.errors import ConnectorSpecError

DeliveryFactory = Callable[..., Message]
MARIADB_ENV = "DOORSTEP_TEST_MARIADB"
MARIADB = {
    "host": "127.0.0.1",
    "port": 3306,
    "user": os.environ.get("DOORSTEP_TEST_MARIADB_USER", "root"),
    "password": os.environ.get("DOORSTEP_TEST_MARIADB_PASSWORD", ""),
}
LOOPBACK = ["127.0.0.0/8"]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="session")
def mariadb_server() -> None:
    """Fail (not skip) when MariaDB is unreachable, unless DOORSTEP_TEST_MARIADB=skip."""
    if os.environ.get(MARIADB_ENV) == "skip":
        pytest.skip(f"MariaDB tests skipped ({MARIADB_ENV}=skip)")
    import pymysql

    try:
        pymysql.connect(**MARIADB, connect_timeout=5).close()
    except pymysql.MySQLError as error:
        pytest.fail(
            f"MariaDB is not reachable on 127.0.0.1:3306 as {MARIADB['user']!r} ({error}); "
            f"scripts/test installs and starts one, or set {MARIADB_ENV}=skip"
        )


@pytest.fixture
def mariadb_url(mariadb_server: None) -> Iterator[str]:
    """A URL to a fresh database on the MariaDB server; dropped afterwards."""
    import pymysql

    name = f"doorstep_t_{uuid.uuid4().hex[:16]}"
    with pymysql.connect(**MARIADB, autocommit=True) as conn, conn.cursor() as cursor:
        cursor.execute(f"CREATE DATABASE `{name}`")
    try:
        login = quote(str(MARIADB["user"]), safe="")
        if MARIADB["password"]:
            login += ":" + quote(str(MARIADB["password"]), safe="")
        yield f"mysql+pymysql://{login}@127.0.0.1:3306/{name}"
    finally:
        with pymysql.connect(**MARIADB, autocommit=True) as conn, conn.cursor() as cursor:
            cursor.execute(f"DROP DATABASE IF EXISTS `{name}`")


@pytest.fixture(params=["sqlite", "postgresql", "mariadb"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty database with the tables of these tests."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'crm.db'}"
    else:
        url = str(
            request.getfixturevalue("pg_url" if request.param == "postgresql" else "mariadb_url")
        )
    engine = sa.create_engine(url)
    _schema().create_all(engine)
    engine.dispose()
    return url


def _schema() -> sa.MetaData:
    meta = sa.MetaData()

    def columns() -> list[sa.Column[Any]]:
        return [
            sa.Column("score", sa.Float),
            sa.Column("offer", sa.String(64)),
            sa.Column("reasons", sa.JSON),
            sa.Column("note", sa.Text),
            sa.Column("decided_at", sa.DateTime(timezone=True)),
        ]

    sa.Table(
        "offers",
        meta,
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("customer_id", sa.String(32), nullable=False),
        *columns(),
    )
    sa.Table(
        "offers_by_customer",
        meta,
        sa.Column("customer_id", sa.String(32), primary_key=True),
        *columns(),
    )
    sa.Table(
        "offers_once",
        meta,
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("customer_id", sa.String(32)),
        sa.Column("doorstep_delivery", sa.String(64), unique=True),
        *columns(),
    )
    sa.Table(
        "offers_loose",  # customer_id is indexed but not unique: the update-then-insert path
        meta,
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("customer_id", sa.String(32), index=True),
        *columns(),
    )
    return meta


def sql(url: str, table: str = "offers", base_dir: Path = Path("."), **spec: Any) -> SQLConnector:
    values: dict[str, Any] = {"type": "sql", "url": url, "table": table, "timeout": 5}
    values.update({"allow_networks": LOOPBACK, **spec})
    context = ConnectorContext(name="crm", base_dir=base_dir, secrets=frozenset({"hunter2"}))
    return SQLConnector.from_spec(SQLConnectorSpec(**values), context)


def rows(url: str, table: str) -> list[dict[str, Any]]:
    engine = sa.create_engine(url)
    try:
        reflected = sa.Table(table, sa.MetaData(), autoload_with=engine)
        with engine.connect() as connection:
            result = connection.execute(sa.select(reflected).order_by(reflected.c.customer_id))
            return [dict(row._mapping) for row in result]
    finally:
        engine.dispose()


def test_the_payload_becomes_a_row(db_url: str, delivery: DeliveryFactory) -> None:
    connector = sql(db_url)
    try:
        result = connector.send(delivery())
    finally:
        connector.close()
    assert (result.outcome, result.detail) == ("delivered", "row inserted into offers")
    [row] = rows(db_url, "offers")
    assert (row["customer_id"], row["score"], row["offer"]) == ("C-1042", 0.8731, "discount_20")


def test_column_templates_keep_types(db_url: str, delivery: DeliveryFactory) -> None:
    columns = {
        "customer_id": "{{ entity_id }}",
        "score": "{{ score }}",
        "reasons": "{{ reasons }}",
        "note": "Call {{ entity_id }}: {{ reasons[0].sentence }}",
        "decided_at": "{{ created_at }}",
    }
    connector = sql(db_url, columns=columns)
    assert connector.send(delivery()).outcome == "delivered"
    connector.close()
    [row] = rows(db_url, "offers")
    assert row["score"] == pytest.approx(0.8731)
    reasons = row["reasons"]
    if isinstance(reasons, str):  # MariaDB's JSON is LONGTEXT underneath
        reasons = json.loads(reasons)
    assert [r["feature"] for r in reasons] == ["tickets_90d", "plan", "tenure_months"]
    assert row["note"] == "Call C-1042: Support tickets (7) raise the churn risk by 0.21"
    decided = row["decided_at"]
    assert isinstance(decided, datetime)
    # MariaDB's DATETIME keeps whole seconds unless declared DATETIME(6)
    assert decided.replace(tzinfo=None, microsecond=0) == datetime(2024, 6, 3, 9, 14, 7)


def test_upsert_on_the_key_column(db_url: str, delivery: DeliveryFactory) -> None:
    connector = sql(db_url, table="offers_by_customer", key="customer_id")
    first = connector.send(delivery())
    second = connector.send(delivery(payload={"customer_id": "C-1042", "score": 0.4}))
    other = connector.send(delivery(payload={"customer_id": "C-7", "offer": "call"}))
    connector.close()
    assert [first.outcome, second.outcome, other.outcome] == ["delivered"] * 3
    assert "upserted on customer_id" in first.detail
    got = [(r["customer_id"], r["score"], r["offer"]) for r in rows(db_url, "offers_by_customer")]
    assert got == [("C-1042", 0.4, "discount_20"), ("C-7", None, "call")]


def test_without_a_unique_key_update_then_insert(db_url: str, delivery: DeliveryFactory) -> None:
    connector = sql(db_url, table="offers_loose", key="customer_id")
    assert "inserted" in connector.send(delivery()).detail
    again = connector.send(delivery(payload={"customer_id": "C-1042", "score": 0.1}))
    connector.close()
    assert again.detail == "row updated on customer_id in offers_loose"
    assert [(r["customer_id"], r["score"]) for r in rows(db_url, "offers_loose")] == [
        ("C-1042", 0.1)
    ]


def test_a_doorstep_delivery_column_makes_inserts_idempotent(
    db_url: str, delivery: DeliveryFactory
) -> None:
    connector = sql(db_url, table="offers_once")
    results = [
        connector.send(delivery()),
        connector.send(delivery(attempt=2)),  # a retry: same key
        connector.send(delivery(context={"decision_id": "d-2"})),
    ]
    connector.close()
    assert [r.outcome for r in results] == ["delivered"] * 3
    stored = rows(db_url, "offers_once")
    assert sorted(r["doorstep_delivery"] for r in stored) == sorted(
        {delivery().key, delivery(context={"decision_id": "d-2"}).key}
    )


def test_plain_inserts_are_not_deduplicated(db_url: str, delivery: DeliveryFactory) -> None:
    connector = sql(db_url)
    connector.send(delivery())
    connector.send(delivery())
    connector.close()
    assert len(rows(db_url, "offers")) == 2  # documented: add a doorstep_delivery column


def test_rejected_rows_fail_with_the_reason(db_url: str, delivery: DeliveryFactory) -> None:
    connector = sql(db_url)
    unknown = connector.send(delivery(payload={"customer_id": "C-1", "colour": "red"}))
    assert unknown.outcome == "failed"
    assert "'colour' is not in table 'offers'" in unknown.detail and "customer_id" in unknown.detail
    near = connector.send(delivery(payload={"customer_id": "C-1", "scroe": 0.5}))
    assert near.outcome == "failed" and "(did you mean 'score'?)" in near.detail
    missing = connector.send(delivery(payload={"score": 0.5}))  # customer_id is NOT NULL
    assert missing.outcome == "failed" and "refused the row" in missing.detail
    null = connector.send(delivery(payload={"customer_id": None}))
    assert null.outcome == "failed" and "customer_id" in null.detail
    listed = connector.send(delivery(payload=[1, 2]))
    assert listed.outcome == "failed" and "must be a mapping of column to value" in listed.detail
    template = sql(db_url, columns={"customer_id": "{{ nope }}"}).send(delivery())
    assert template.outcome == "failed" and "connectors.crm.columns.customer_id" in template.detail
    key = sql(db_url, table="offers_by_customer", key="customer_id")
    no_key = key.send(delivery(payload={"score": 0.5}))
    assert no_key.outcome == "failed" and "no value for its key column" in no_key.detail
    connector.close()
    key.close()
    assert rows(db_url, "offers") == []


def test_a_missing_table_fails_until_it_is_created(db_url: str, delivery: DeliveryFactory) -> None:
    connector = sql(db_url, table="later")
    result = connector.send(delivery())
    assert (result.outcome, result.detail) == ("failed", "table 'later' does not exist; create it")
    engine = sa.create_engine(db_url)
    sa.Table("later", sa.MetaData(), sa.Column("customer_id", sa.String(32))).create(engine)
    engine.dispose()
    assert connector.send(delivery(payload={"customer_id": "C-1"})).outcome == "delivered"
    connector.close()


def test_concurrent_sends_share_one_pool(db_url: str, delivery: DeliveryFactory) -> None:
    connector = sql(db_url, table="offers_once")
    sent = [delivery(context={"decision_id": f"d-{i}"}) for i in range(40)]
    results: list[str] = []

    def send(items: list[Message]) -> None:
        results.extend(connector.send(item).outcome for item in items)

    threads = [threading.Thread(target=send, args=(sent[i::4] * 2,)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    connector.close()
    assert results == ["delivered"] * 80
    assert len(rows(db_url, "offers_once")) == 40


def test_unreachable_databases_are_retried_without_leaking_the_password(
    delivery: DeliveryFactory,
) -> None:
    port = _free_port()
    for url in (
        f"postgresql+psycopg://crm:hunter2@127.0.0.1:{port}/crm",
        f"mysql+pymysql://crm:hunter2@127.0.0.1:{port}/crm",
    ):
        result = sql(url).send(delivery())
        assert result.outcome == "retry", result
        assert "hunter2" not in result.detail and result.detail


def test_a_locked_sqlite_file_is_retried(tmp_path: Path, delivery: DeliveryFactory) -> None:
    url = f"sqlite:///{tmp_path / 'crm.db'}"
    engine = sa.create_engine(url)
    _schema().create_all(engine)
    connector = sql(url, timeout=0.2)
    with engine.connect() as holder:
        holder.exec_driver_sql("BEGIN EXCLUSIVE")
        result = connector.send(delivery())
        holder.exec_driver_sql("ROLLBACK")
    engine.dispose()
    assert result.outcome == "retry" and "locked" in result.detail
    assert connector.send(delivery()).outcome == "delivered"
    connector.close()


def test_a_row_lock_held_elsewhere_is_given_up_on_at_the_deadline(
    db_url: str, delivery: DeliveryFactory
) -> None:
    connector = sql(db_url, table="offers_by_customer", key="customer_id", timeout=10)
    assert connector.send(delivery()).outcome == "delivered"
    engine = sa.create_engine(db_url)
    results: list[Any] = []
    try:
        with engine.connect() as holder:
            holder.execute(sa.text("UPDATE offers_by_customer SET score = 0"))  # locked, for long
            sending = threading.Thread(
                target=lambda: results.append(connector.send(delivery(deadline=Deadline(1.0))))
            )
            started = time.monotonic()
            sending.start()
            sending.join(timeout=5)
            took = time.monotonic() - started
            holder.rollback()
        sending.join(timeout=30)
        assert results and took < 2.5, f"still writing after {took:.1f} s"
        (result,) = results
        assert result.outcome == "retry"
        assert result.detail == (
            "gave up after 1 s while writing the row into offers_by_customer: an attempt ends "
            "before its lease does"
        )
        assert connector.send(delivery(deadline=Deadline(10))).outcome == "delivered"
    finally:
        connector.close()
        engine.dispose()


def test_private_hosts_need_allow_networks(pg_url: str, delivery: DeliveryFactory) -> None:
    result = sql(pg_url, allow_networks=[]).send(delivery())
    assert result.outcome == "failed"
    assert "127.0.0.1" in result.detail and "allow_networks" in result.detail


def test_a_relative_sqlite_path_is_relative_to_the_spec(
    tmp_path: Path, delivery: DeliveryFactory
) -> None:
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'crm.db'}")
    _schema().create_all(engine)
    engine.dispose()
    connector = sql("sqlite:///crm.db", base_dir=tmp_path)
    assert connector.send(delivery()).outcome == "delivered"
    connector.close()
    assert len(rows(f"sqlite:///{tmp_path / 'crm.db'}", "offers")) == 1


def test_bad_urls_and_missing_drivers_are_spec_errors() -> None:
    with pytest.raises(ConnectorSpecError, match="connector 'crm' url: expected a SQLAlchemy URL"):
        sql("not a url")
    with pytest.raises(ConnectorSpecError, match="driver 'mssql\\+pymssql' is not installed"):
        sql("mssql+pymssql://sa:hunter2@db.example.com/crm")


def test_registered_under_its_entry_point() -> None:
    from importlib.metadata import entry_points

    from doorstep.connectors.base import ConnectorFactory

    [entry] = entry_points(group="doorstep.connectors", name="sql")
    assert entry.load() is SQLConnector
    assert isinstance(SQLConnector, ConnectorFactory) and SQLConnector.type == "sql"
