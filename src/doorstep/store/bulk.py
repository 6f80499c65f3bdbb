"""Many rows into one table in the caller's transaction, as the driver takes them fastest:
``COPY … FROM STDIN`` on PostgreSQL (psycopg 3's ``cursor.copy``: one statement and one stream
for the whole batch, no per-row round trip or statement), ``executemany`` of one prepared
``INSERT`` on SQLite (its loop runs in C).

Rows are tuples of driver values in the order of ``columns``: JSON already serialised to text,
times as :class:`DbTimes` gives them for the dialect. A row the table refuses (a duplicate key, a
missing parent) fails the whole batch, as the ``INSERT`` it replaces would.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

__all__ = ["DbTimes", "insert_rows"]


def insert_rows(
    conn: sa.Connection, table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]
) -> None:
    """Insert ``rows`` (tuples of driver values in ``columns``' order) into ``table``."""
    if not rows:
        return
    names = ", ".join(columns)
    if conn.dialect.name == "postgresql":
        import psycopg

        statement = f"COPY {table} ({names}) FROM STDIN"
        dbapi: Any = conn.connection.dbapi_connection  # a psycopg.Connection
        try:
            with dbapi.cursor() as cursor, cursor.copy(statement) as copy:
                write = copy.write_row
                for row in rows:
                    write(row)
        except psycopg.Error as error:  # as SQLAlchemy would raise it (IntegrityError, …)
            raise sa.exc.DBAPIError.instance(
                statement, None, error, psycopg.Error, dialect=conn.dialect
            ) from error
        return
    marks = ", ".join("?" * len(columns))
    conn.exec_driver_sql(f"INSERT INTO {table} ({names}) VALUES ({marks})", list(rows))


class DbTimes:
    """A converter of aware (or naive UTC) datetimes to what the dialect's driver stores:
    SQLite the naive UTC text SQLAlchemy's ``DATETIME`` writes, PostgreSQL an aware datetime.
    Remembers the last moment converted: the rows of one batch mostly share theirs."""

    __slots__ = ("_last", "_sqlite", "_value")

    def __init__(self, dialect: str) -> None:
        self._sqlite = dialect == "sqlite"
        self._last: datetime | None = None
        self._value: Any = None

    def __call__(self, moment: datetime) -> Any:
        if moment is self._last:
            return self._value
        value: Any
        if self._sqlite:
            naive = moment.astimezone(UTC).replace(tzinfo=None) if moment.tzinfo else moment
            value = naive.isoformat(sep=" ", timespec="microseconds")
        else:
            value = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment
        self._last, self._value = moment, value
        return value
