"""The SQL connector: one row per delivery, inserted or upserted into a table of any database
SQLAlchemy reaches.

The row is the spec's ``columns`` (column → template, rendered so that ``"{{ score }}"`` stays a
number) or else the payload's top-level keys. With ``key``, the row is upserted on that column:
``ON CONFLICT … DO UPDATE`` on SQLite and PostgreSQL, ``ON DUPLICATE KEY UPDATE`` on MySQL and
MariaDB when the column is unique, otherwise an update then, if no row matched, an insert, in one
transaction.

Retries resend the same delivery, so a plain insert could record an action twice. When the table
has a column named ``doorstep_delivery`` it is filled with the delivery key and, unless ``key``
names another column, the row is upserted on it: give it a unique index and every delivery is
recorded once. Without such a column (and without ``key``) rows are plainly inserted.

The connector holds one pooled engine (``pool_pre_ping``) and reflects the table once, on the
first send, so a table created after start-up is found. ``timeout`` bounds connecting and each
answer where the driver allows; the attempt's :class:`~doorstep.connectors.deadline.Deadline`
bounds the whole write: a watchdog interrupts the statement when it passes (SQLite's
``interrupt``, a PostgreSQL cancel request, the MySQL socket shut down), and SQLite waits for
another writer's lock no longer than is left. Outcomes: row written → ``delivered``;
unreachable, locked or dropped database → ``retry``; unknown column, missing table, constraint
or type violation, template error → ``failed``.
"""

from __future__ import annotations

import builtins
import json
import socket
import threading
from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager, nullcontext
from datetime import datetime
from typing import Any, ClassVar

from pydantic import BaseModel
from sqlalchemy import Connection, Engine, MetaData, Table, create_engine, event, insert, update
from sqlalchemy import exc as sa_exc
from sqlalchemy.dialects import mysql, postgresql, sqlite
from sqlalchemy.engine import make_url
from sqlalchemy.schema import Column, UniqueConstraint
from sqlalchemy.sql import sqltypes
from sqlalchemy.sql.dml import Insert

from doorstep.connectors.base import ConnectorContext, Message, SendResult, redact
from doorstep.connectors.deadline import Deadline
from doorstep.connectors.net import (
    check_address,
    parse_networks,
)
from doorstep.connectors.templates import TemplateRenderError, render_payload
from doorstep.core.spec.models import SQLConnectorSpec
from doorstep.core.suggest import did_you_mean
from doorstep.databases import connect_args, resolve_sqlite_path
from doorstep.errors import AddressNotAllowedError, ConnectorSpecError

__all__ = ["DELIVERY_COLUMN", "SQLConnector"]

DELIVERY_COLUMN = "doorstep_delivery"
"""A column of this name receives the delivery key and makes inserts idempotent."""

_MYSQL_TRANSIENT = frozenset(
    {1040, 1044, 1045, 1049, 1053, 1077, 1129, 1130, 1152, 1153, 1158, 1159, 1160, 1161, 1205}
    | {1213, 1317, 1698, 1927}
)
"""MySQL/MariaDB server errors worth a retry: connecting failed (too many connections, access
or host denied, unknown database, shutdown), the connection broke, a lock wait timed out, a
deadlock or a killed query. Its other OperationalErrors (e.g. 1364 "Field doesn't have a default
value", 1054 unknown column) reject the row."""

_DEFAULT_PORTS = {"postgresql": 5432, "mysql": 3306, "mariadb": 3306, "mssql": 1433, "oracle": 1521}


class _Rejected(Exception):
    """The row cannot be written whatever happens next: the delivery failed."""


class SQLConnector:
    """Writes each delivery as one row of ``table`` (see the module docstring)."""

    type: ClassVar[str] = "sql"
    spec_model: ClassVar[builtins.type[BaseModel]] = SQLConnectorSpec

    def __init__(self, spec: SQLConnectorSpec, context: ConnectorContext, engine: Engine) -> None:
        self.spec = spec
        self.context = context
        self.engine = engine
        self._where = f"connectors.{context.name}"
        self._hidden = [s for s in (*context.secrets, engine.url.password or "") if s]
        self._table: Table | None = None
        self._lock = threading.Lock()

    @classmethod
    def from_spec(cls, spec: BaseModel, context: ConnectorContext) -> SQLConnector:
        """Check the URL and driver and build the (not yet connected) engine."""
        if not isinstance(spec, SQLConnectorSpec):
            raise TypeError(
                "The 'spec' parameter of SQLConnector.from_spec must be a SQLConnectorSpec. "
                f"Got {type(spec).__name__} instead."
            )
        parse_networks(spec.allow_networks, connector=context.name)
        try:
            url = resolve_sqlite_path(make_url(spec.url), context.base_dir)
        except sa_exc.ArgumentError:
            raise ConnectorSpecError(
                context.name,
                "url",
                "expected a SQLAlchemy URL such as "
                "'postgresql+psycopg://crm:${DB_PASSWORD}@db.example.com/crm'; it cannot be parsed",
            ) from None
        try:
            engine = create_engine(
                url,
                pool_pre_ping=True,
                pool_timeout=spec.timeout,
                connect_args=connect_args(url, spec.timeout, min_seconds=2),
            )
        except (ImportError, sa_exc.NoSuchModuleError) as error:
            raise ConnectorSpecError(
                context.name,
                "url",
                f"the driver {url.drivername!r} is not installed ({error}); install it "
                "(e.g. pip install 'psycopg[binary]' or pymysql) or change the URL",
            ) from None
        connector = cls(spec, context, engine)
        if url.host and not url.host.startswith("/") and url.get_backend_name() != "sqlite":
            port = url.port or _DEFAULT_PORTS.get(url.get_backend_name(), 0)
            event.listen(engine, "do_connect", connector._vet(url.host, port))
        return connector

    def send(self, delivery: Message) -> SendResult:
        """Write one row in its own transaction, by ``delivery.deadline`` when it has one;
        never raises for a failed delivery."""
        deadline = delivery.deadline
        try:
            with (
                self.engine.connect() as connection,
                self._watch(connection, deadline),
                connection.begin(),
            ):
                table = self._reflect(connection)
                row, key = self._row(delivery, table)
                verb = _write(connection, table, row, key)
        except (_Rejected, TemplateRenderError) as error:
            return SendResult("failed", self._redact(str(error)))
        except AddressNotAllowedError as error:  # only a change of the spec can help
            return SendResult("failed", self._redact(error.message))
        except sa_exc.NoSuchTableError:
            return SendResult("failed", f"table {self.spec.table!r} does not exist; create it")
        except sa_exc.SQLAlchemyError as error:
            if deadline is not None and deadline.expired:  # cut short, whatever it looked like
                return deadline.give_up(f"writing the row into {self.spec.table}")
            return self._database_error(error)
        except OSError as error:  # the host name did not resolve
            return SendResult("retry", self._redact(f"cannot reach the database: {error}"))
        return SendResult("delivered", f"row {verb} {self.spec.table}")

    def close(self) -> None:
        """Close the pooled connections."""
        self.engine.dispose()

    def _watch(
        self, connection: Connection, deadline: Deadline | None
    ) -> AbstractContextManager[None]:
        """While the row is written: interrupted when ``deadline`` passes or is cancelled."""
        if deadline is None:
            _limit_waits(connection, self.spec.timeout)  # a pooled connection's last limit
            return nullcontext()
        _limit_waits(connection, deadline.limit(self.spec.timeout))
        return deadline.watch(_interrupter(connection))

    def _reflect(self, connection: Connection) -> Table:
        with self._lock:
            if self._table is None:
                schema, _, name = self.spec.table.rpartition(".")
                self._table = Table(
                    name, MetaData(), schema=schema or None, autoload_with=connection
                )
            return self._table

    def _row(self, delivery: Message, table: Table) -> tuple[dict[str, Any], str | None]:
        if self.spec.columns:
            row = {
                column: render_payload(
                    template, delivery.context, where=f"{self._where}.columns.{column}"
                )
                for column, template in self.spec.columns.items()
            }
        elif isinstance(delivery.payload, Mapping):
            row = {str(column): value for column, value in delivery.payload.items()}
        else:
            raise _Rejected(
                f"the payload of action {delivery.action!r} must be a mapping of column to value "
                f"for the SQL connector {self.context.name!r} (or set {self._where}.columns); "
                f"got {type(delivery.payload).__name__}"
            )
        unknown = [column for column in row if column not in table.c]
        if unknown:
            columns = table.c.keys()
            raise _Rejected(
                f"column {unknown[0]!r} is not in table {self.spec.table!r}"
                f"{did_you_mean(unknown[0], columns)}; its columns: {', '.join(columns)}"
            )
        key = self.spec.key
        if key is not None and key not in table.c:
            raise _Rejected(
                f"{self._where}.key: column {key!r} is not in table {self.spec.table!r}"
                f"{did_you_mean(key, table.c.keys())}"
            )
        if DELIVERY_COLUMN in table.c:
            row[DELIVERY_COLUMN] = delivery.key
            key = key or DELIVERY_COLUMN
        if key is not None and row.get(key) is None:
            raise _Rejected(f"the row has no value for its key column {key!r}")
        return {column: _coerce(table.c[column], value) for column, value in row.items()}, key

    def _database_error(self, error: sa_exc.SQLAlchemyError) -> SendResult:
        original = getattr(error, "orig", None) or error
        lines = str(original).strip().splitlines()
        detail = self._redact(f"{type(original).__name__}: {lines[0] if lines else ''}"[:400])
        if _is_transient(error):
            return SendResult("retry", detail)
        return SendResult("failed", f"table {self.spec.table!r} refused the row: {detail}")

    def _vet(self, host: str, port: int) -> Callable[..., None]:
        """A ``do_connect`` listener: every new connection first checks the host's addresses
        (:func:`~doorstep.connectors.net.check_address`); libpq is also pinned to them
        (``hostaddr``), while other drivers resolve the name again."""

        def vet(dialect: Any, record: Any, args: Any, params: dict[str, Any]) -> None:
            vetted = check_address(
                host, port, self.spec.allow_networks, connector=self.context.name
            )
            if dialect.driver in ("psycopg", "psycopg2") and "," not in host:
                params["host"] = ",".join(host for _ in vetted)
                params["hostaddr"] = ",".join(address.host for address in vetted)

        return vet

    def _redact(self, text: str) -> str:
        return redact(text, self._hidden)


def _limit_waits(connection: Connection, seconds: float) -> None:
    """SQLite waits for another writer's lock in a busy handler that nothing interrupts: let it
    wait no longer than ``seconds``."""
    if connection.dialect.name == "sqlite":
        dbapi = connection.connection.dbapi_connection
        if dbapi is not None:
            dbapi.execute(f"PRAGMA busy_timeout = {max(1, int(seconds * 1000))}")


def _interrupter(connection: Connection) -> Callable[[], None]:
    """What stops the statement running on ``connection``, from another thread: SQLite's
    ``interrupt``, PostgreSQL's cancel request (psycopg), or shutting the socket of MySQL and
    MariaDB (PyMySQL) down. Other drivers rely on their own timeouts."""
    dbapi: Any = connection.connection.dbapi_connection

    def interrupt() -> None:
        if hasattr(dbapi, "interrupt"):  # sqlite3
            dbapi.interrupt()
        elif hasattr(dbapi, "cancel_safe"):  # psycopg 3.2+
            dbapi.cancel_safe(timeout=5)
        elif hasattr(dbapi, "cancel"):  # psycopg before 3.2, psycopg2
            dbapi.cancel()
        elif isinstance(getattr(dbapi, "_sock", None), socket.socket):  # PyMySQL
            dbapi._sock.shutdown(socket.SHUT_RDWR)

    return interrupt


def _write(connection: Connection, table: Table, row: dict[str, Any], key: str | None) -> str:
    """Insert ``row``, or upsert it on ``key``; return what was done, for the detail."""
    if key is None:
        connection.execute(insert(table).values(row))
        return "inserted into"
    dialect = connection.dialect.name
    changes = [column for column in row if column != key]
    if _is_unique(table, key) and dialect in ("sqlite", "postgresql", "mysql", "mariadb"):
        statement: Insert
        if dialect in ("mysql", "mariadb"):
            upsert = mysql.insert(table).values(row)
            values = {column: upsert.inserted[column] for column in changes or [key]}
            statement = upsert.on_duplicate_key_update(values)
        else:
            upsert_ = (postgresql if dialect == "postgresql" else sqlite).insert(table).values(row)
            if changes:
                excluded = {column: upsert_.excluded[column] for column in changes}
                statement = upsert_.on_conflict_do_update(index_elements=[key], set_=excluded)
            else:
                statement = upsert_.on_conflict_do_nothing(index_elements=[key])
        connection.execute(statement)
        return f"upserted on {key} into"
    matched = connection.execute(update(table).where(table.c[key] == row[key]).values(row))
    if matched.rowcount:
        return f"updated on {key} in"
    connection.execute(insert(table).values(row))
    return "inserted into"


def _is_transient(error: sa_exc.SQLAlchemyError) -> bool:
    """Whether trying again could help: lost or refused connections, locks, timeouts."""
    if getattr(error, "connection_invalidated", False):
        return True
    if isinstance(error, sa_exc.DisconnectionError | sa_exc.TimeoutError):
        return True
    if not isinstance(
        error, sa_exc.OperationalError | sa_exc.InterfaceError | sa_exc.InternalError
    ):
        return False
    code = getattr(getattr(error, "orig", None), "args", (None,))[0]
    if isinstance(code, int) and 1000 <= code < 2000:  # a MySQL server error: most are final
        return code in _MYSQL_TRANSIENT
    return True


def _is_unique(table: Table, name: str) -> bool:
    """Whether ``name`` alone is the primary key or has a unique constraint or index."""
    if [c.name for c in table.primary_key.columns] == [name]:
        return True
    for constraint in table.constraints:
        if isinstance(constraint, UniqueConstraint) and [c.name for c in constraint.columns] == [
            name
        ]:
            return True
    return any(
        index.unique and [c.name for c in index.columns] == [name] for index in table.indexes
    )


def _coerce(column: Column[Any], value: Any) -> Any:
    """Fit JSON-ready values to the column: nested data as JSON text, ISO strings as dates."""
    kind = column.type
    if isinstance(value, dict | list) and not isinstance(kind, sqltypes.JSON):
        return json.dumps(value, ensure_ascii=False, default=str)
    if isinstance(value, str) and isinstance(kind, sqltypes.DateTime | sqltypes.Date):
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            return value
        return parsed if isinstance(kind, sqltypes.DateTime) else parsed.date()
    return value
