"""A locked or unreachable database is StoreUnavailableError, never a raw SQLAlchemy error."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from tests.fixtures_db import PostgresCluster, _free_port
from tests.store.factories import request

from doorstep.errors import StoreUnavailableError
from doorstep.store import open_store


def test_locked_sqlite(tmp_path: Path) -> None:
    path = tmp_path / "locked.db"
    with open_store(f"sqlite:///{path}", busy_timeout=0.2) as store:
        holder = sqlite3.connect(path, isolation_level=None)
        try:
            holder.execute("BEGIN EXCLUSIVE")
            with pytest.raises(StoreUnavailableError, match="locked"):
                store.record([request(1)], actor="t")
            with pytest.raises(StoreUnavailableError):
                store.ping()
            with pytest.raises(StoreUnavailableError):
                store.create_key("k", "admin", actor="t")
        finally:
            holder.execute("ROLLBACK")
            holder.close()
        store.ping()
        assert store.record([request(1)], actor="t")[0].status == "recorded"


def test_closed_postgresql_port() -> None:
    url = f"postgresql+psycopg://postgres@127.0.0.1:{_free_port()}/nothing"
    with pytest.raises(StoreUnavailableError):
        open_store(url, busy_timeout=1)


@pytest.mark.postgres  # a cluster of its own, stopped under the store
def test_postgresql_going_down() -> None:
    cluster = PostgresCluster.start()
    try:
        store = open_store(cluster.url(), busy_timeout=1)
        store.ping()
        cluster.stop()
        with pytest.raises(StoreUnavailableError):
            store.ping()
        with pytest.raises(StoreUnavailableError):
            store.record([request(1)], actor="t")
        store.close()
    finally:
        cluster.stop()
