"""The connect arguments and SQLite paths the SQL connector and the SQL feature source share."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from doorstep.databases import connect_args, resolve_sqlite_path


@pytest.mark.parametrize(
    ("url", "database"),
    [
        ("sqlite:///crm.db", "/spec/crm.db"),
        ("sqlite:///data/crm.db", "/spec/data/crm.db"),
        ("sqlite:////data/crm.db", "/data/crm.db"),
        ("sqlite://", None),
        ("sqlite:///:memory:", ":memory:"),
        ("sqlite:///file:crm.db?uri=true", "file:crm.db"),
        ("postgresql+psycopg://app@db/crm.db", "crm.db"),
    ],
)
def test_only_a_relative_sqlite_file_is_resolved_against_the_spec(
    url: str, database: str | None
) -> None:
    assert resolve_sqlite_path(make_url(url), Path("/spec")).database == database


def test_postgresql_connects_in_whole_seconds_of_at_least_two() -> None:
    url = make_url("postgresql+psycopg://app@db/app")
    assert connect_args(url, 0.5) == {"connect_timeout": 2}
    assert connect_args(url, 2.5) == {"connect_timeout": 3}
    assert connect_args(url, 0.25, statement_timeout=True) == {
        "connect_timeout": 2,
        "options": "-c statement_timeout=250",
    }


def test_mysql_limits_connect_read_and_write_alike() -> None:
    url = make_url("mysql+pymysql://app@db/app")
    assert connect_args(url, 0.5) == dict.fromkeys(
        ("connect_timeout", "read_timeout", "write_timeout"), 1
    )
    assert connect_args(url, 0.5, min_seconds=2)["read_timeout"] == 2


def test_sqlite_waits_for_a_lock_and_may_share_connections_between_threads() -> None:
    url = make_url("sqlite:///crm.db")
    assert connect_args(url, 0.5) == {"timeout": 0.5}
    assert connect_args(url, 0.5, any_thread=True) == {"timeout": 0.5, "check_same_thread": False}


def test_other_drivers_get_no_arguments() -> None:
    assert connect_args(make_url("mssql+pyodbc://app@db/app"), 5.0) == {}
