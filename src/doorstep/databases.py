"""Databases a spec names by SQLAlchemy URL (the SQL connector, the SQL feature source): where a
relative SQLite file is, and the time limits each driver takes as connect arguments.

Connectors and feature sources are sibling adapter packages that may not import each other; both
import this module, which sits in the layer below them (see ``[tool.importlinter]``).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from sqlalchemy.engine import URL

__all__ = ["connect_args", "resolve_sqlite_path"]


def resolve_sqlite_path(url: URL, base_dir: Path) -> URL:
    """A relative SQLite file is relative to the spec's folder, like every path in a spec."""
    database = url.database
    if url.get_backend_name() != "sqlite" or not database or database == ":memory:":
        return url
    if database.startswith("file:") or Path(database).is_absolute():
        return url
    return url.set(database=str(base_dir / database))


def connect_args(
    url: URL,
    timeout: float,
    *,
    min_seconds: int = 1,
    statement_timeout: bool = False,
    any_thread: bool = False,
) -> dict[str, Any]:
    """The driver's own limits for connecting and for each read, where we know their names.

    Drivers that count whole seconds get ``timeout`` rounded up, and at least ``min_seconds``
    (libpq's connect timeout is at least 2 s whatever is asked). ``statement_timeout`` also
    bounds each PostgreSQL statement by ``timeout``; ``any_thread`` lets a pooled SQLite
    connection be used by another thread than the one that opened it.
    """
    seconds = max(min_seconds, math.ceil(timeout))
    driver = url.get_driver_name()
    if driver in ("psycopg", "psycopg2"):
        args: dict[str, Any] = {"connect_timeout": max(2, seconds)}
        if statement_timeout:
            args["options"] = f"-c statement_timeout={max(1, int(timeout * 1000))}"
        return args
    if driver in ("pymysql", "mysqldb"):
        return {"connect_timeout": seconds, "read_timeout": seconds, "write_timeout": seconds}
    if driver == "pysqlite":
        return (
            {"timeout": timeout, "check_same_thread": False} if any_thread else {"timeout": timeout}
        )
    return {}
