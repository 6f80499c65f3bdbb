"""A SQL feature source: one parameterised query per lookup, ``WHERE key IN (:ids)``, against
any database SQLAlchemy reaches (a warehouse, an application's PostgreSQL or MariaDB, SQLite).

The ids are always bound parameters (an expanding bind parameter); table and column names come
from the spec, quoted by SQLAlchemy, never from a request. Connections are pooled (no ping per
checkout: a connection found broken is dropped and the lookup tried once more on a fresh one).
Connecting, each statement and waiting for a pooled connection are bounded by the source's
``timeout`` where the driver allows it; the caller bounds the whole lookup as well.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy import exc as sa_exc
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import make_url

from doorstep.core.spec.sources import SQLSourceSpec, source_columns
from doorstep.databases import connect_args, resolve_sqlite_path
from doorstep.errors import (
    ConnectorSpecError,
    DoorstepError,
    EntityIdRefusedError,
    FeatureSourceUnavailableError,
)
from doorstep.sources.base import FeatureRow, check_host, observed_time
from doorstep.sources.ids import source_id

__all__ = ["SQLFeatureSource"]

_TIMED_OUT = re.compile(r"time ?out|timed out|cancel(l)?ing statement|max_statement_time", re.I)


class SQLFeatureSource:
    """Looks entities up in a table, or through the spec's own ``query``."""

    kind = "sql"

    def __init__(
        self,
        name: str,
        spec: SQLSourceSpec,
        *,
        id_field: str,
        fields: list[str],
        base_dir: Path,
    ) -> None:
        self.name, self.spec, self.timeout = name, spec, spec.timeout
        self.columns = source_columns(spec, fields)
        self.fields = tuple(self.columns)
        self.key = spec.key or id_field
        try:
            url = resolve_sqlite_path(make_url(spec.url), base_dir)
        except sa_exc.ArgumentError:
            raise ConnectorSpecError(
                name, "url", "expected a SQLAlchemy URL such as 'postgresql+psycopg://app@db/app'"
            ) from None
        self._password = url.password or ""
        try:
            self.engine = sa.create_engine(
                url,
                pool_size=spec.pool_size,
                max_overflow=spec.pool_size,
                pool_timeout=spec.timeout,
                pool_recycle=1800,
                connect_args=connect_args(
                    url, spec.timeout, statement_timeout=True, any_thread=True
                ),
            )
        except (ImportError, sa_exc.NoSuchModuleError) as error:
            raise ConnectorSpecError(
                name,
                "url",
                f"the driver {url.drivername!r} is not installed ({error}); install it "
                "(e.g. pip install 'psycopg[binary]' or pymysql) or change the URL",
            ) from None
        # lookups read one statement: autocommit spares the BEGIN and the ROLLBACK of a
        # transaction (two round trips); scans keep one (server-side cursors need it)
        self._reader = self.engine.execution_options(isolation_level="AUTOCOMMIT")
        self._lookup: Any = None
        if spec.table is not None or spec.query is not None:
            self._lookup = self._lookup_statement()

    @classmethod
    def from_spec(
        cls, name: str, spec: Any, *, id_field: str, fields: list[str], base_dir: Path
    ) -> SQLFeatureSource:
        """The source of a ``type: sql`` entry of the spec's ``features``."""
        if not isinstance(spec, SQLSourceSpec):
            raise TypeError(
                "The 'spec' parameter of SQLFeatureSource.from_spec must be a SQLSourceSpec. "
                f"Got {type(spec).__name__} instead."
            )
        return cls(name, spec, id_field=id_field, fields=fields, base_dir=base_dir)

    # lookups

    def lookup(self, ids: Sequence[str]) -> dict[str, FeatureRow]:
        if not ids:
            return {}
        if self._lookup is None:
            raise FeatureSourceUnavailableError(
                self.name, f"feature source {self.name!r} has no lookup query (scans only)"
            )
        rows = self._read(self._lookup, {"ids": [self._bind_id(i) for i in ids]})
        found: dict[str, FeatureRow] = {}
        for row in rows:
            entity_id, feature_row = self._row(row)
            seen = found.get(entity_id)
            if seen is not None:  # two rows for one id: say how many, refuse its records
                feature_row = replace(seen, rows=seen.rows + 1)
            found[entity_id] = feature_row
        return found

    def probe(self) -> None:
        """Run the lookup statement for no id (``WHERE key IN ()``, which matches nothing): the
        table, its columns or the ``query`` are checked by the database itself. Raises
        :class:`ConnectorSpecError` for what cannot work (a missing table or column, a query
        the database refuses) and :class:`FeatureSourceUnavailableError` when the database
        cannot be reached now."""
        url = self.engine.url
        if url.get_backend_name() == "sqlite":
            database = url.database or ""
            if database not in ("", ":memory:") and not database.startswith("file:"):
                if not Path(database).exists():  # connecting would create an empty file
                    raise ConnectorSpecError(
                        self.name, "url", f"the SQLite file {database} does not exist"
                    )
        check_host(self.name, "url", url.host)
        if self._lookup is not None:
            self._read(self._lookup, {"ids": []}, probing=True)

    def _read(self, statement: Any, params: dict[str, Any], *, probing: bool = False) -> Any:
        """The rows of one statement on a pooled connection, tried once more on a fresh one
        when the first was found dropped (by the server, a proxy or a failover) — found while
        checking it out as well as while running the statement. A connection opened afresh
        that fails is not tried again (a server that is down is not asked twice per lookup)."""
        dbapi_error = self._dbapi_error
        for attempt in (1, 2):
            connected = False
            checkedin = getattr(self.engine.pool, "checkedin", None)
            pooled = checkedin is not None and checkedin() > 0  # an idle connection to reuse
            try:
                with self._reader.connect() as conn:
                    connected = True
                    return conn.execute(statement, params).all()
            except sa_exc.DBAPIError as error:
                dropped = self._dropped(error.orig, error.connection_invalidated)
                if attempt == 1 and pooled and dropped:
                    continue  # a pooled connection the server had closed: once more
                raise self._failure(error, error.orig, connected, probing) from None
            except dbapi_error as error:  # raised by the driver itself while checking out
                if attempt == 1 and pooled and self._dropped(error, False):
                    self.engine.dispose()  # the other pooled connections are dropped too
                    continue
                raise self._failure(error, error, connected, probing) from None
            except (sa_exc.SQLAlchemyError, OSError) as error:
                raise self._failure(error, None, connected, probing) from None
        raise AssertionError("unreachable")  # pragma: no cover

    def _dropped(self, error: BaseException | None, invalidated: bool) -> bool:
        """Whether ``error`` says the connection is gone (and a fresh one may well work)."""
        if invalidated:
            return True
        dbapi = self.engine.dialect.loaded_dbapi
        if error is None or not isinstance(error, dbapi.Error):
            return False
        try:
            if self.engine.dialect.is_disconnect(error, None, None):
                return True
        except Exception:  # noqa: BLE001 - a dialect that needs the connection to tell
            pass
        return isinstance(error, dbapi.OperationalError | dbapi.InterfaceError)

    def _failure(
        self, error: BaseException, orig: BaseException | None, connected: bool, probing: bool
    ) -> DoorstepError:
        """What a failed statement means: an id the database refused as data (``DataError``),
        a spec that cannot work (when probing: a missing table, column or a bad query), or a
        source that is unavailable now."""
        dbapi = self.engine.dialect.loaded_dbapi
        if isinstance(error, sa_exc.DataError) or isinstance(orig, dbapi.DataError):
            return EntityIdRefusedError(self.name, self._detail(error, "refused an id"))
        if probing and connected and not self._transient(orig):
            where = "query" if self.spec.query is not None else "table"
            return ConnectorSpecError(
                self.name,
                where,
                f"the database refuses the lookup: {self._text(error)}; check the "
                f"{where}, 'key', 'columns' and 'observed_at' against the database",
            )
        return self._unavailable(error)

    def _transient(self, error: BaseException | None) -> bool:
        """Whether a statement's error says nothing of the spec: the connection dropped, or
        the statement ran out of time (a probe on a busy database)."""
        if error is None:
            return True
        try:
            if self.engine.dialect.is_disconnect(error, None, None):  # type: ignore[arg-type]
                return True
        except Exception:  # noqa: BLE001 - a dialect that needs the connection to tell
            pass
        return _TIMED_OUT.search(str(error)) is not None

    @property
    def _dbapi_error(self) -> type[Exception]:
        error: type[Exception] = self.engine.dialect.loaded_dbapi.Error
        return error

    def scan(self, after: str | None, chunk_rows: int) -> Iterator[list[tuple[str, FeatureRow]]]:
        """Every entity after ``after`` in id order, streamed by a server-side cursor."""
        statement = self._scan_statement(after is not None)
        params = {} if after is None else {"after": self._bind_id(after)}
        try:
            with self.engine.connect() as conn:
                if conn.dialect.name == "postgresql":  # a long scan is no stuck lookup
                    conn.exec_driver_sql("SET LOCAL statement_timeout = 0")
                result = conn.execution_options(stream_results=True, yield_per=chunk_rows).execute(
                    statement, params
                )
                for part in result.partitions(chunk_rows):
                    yield [self._row(row) for row in part]
        except (sa_exc.SQLAlchemyError, OSError, self._dbapi_error) as error:
            raise self._unavailable(error) from None

    def close(self) -> None:
        self.engine.dispose()

    # statements

    def _select_list(self, source: Any) -> list[Any]:
        """The key, each field's column, then the update time: read back by position."""
        items = [source.c[self.key]]
        items += [source.c[column] for column in self.columns.values()]
        if self.spec.observed_at is not None:
            items.append(source.c[self.spec.observed_at])
        return items

    def _table(self) -> Any:
        assert self.spec.table is not None
        schema, _, name = self.spec.table.rpartition(".")
        names = dict.fromkeys([self.key, *self.columns.values()])
        if self.spec.observed_at is not None:
            names[self.spec.observed_at] = None
        return sa.table(name, *(sa.column(n) for n in names), schema=schema or None)

    def _lookup_statement(self) -> Any:
        # typed, so that no id at all (the probe) still renders a typed empty list: an untyped
        # one is an integer to PostgreSQL, which then refuses to compare it with text
        kind = sa.BigInteger() if self.spec.id_type == "int" else sa.Text()
        ids: Any = sa.bindparam("ids", expanding=True, type_=kind)
        if self.spec.table is not None:
            table = self._table()
            if self.engine.dialect.name == "postgresql":
                # one array parameter: the same statement text (prepared once, planned once)
                # whatever the number of ids; ``IN (...)`` binds one parameter per id
                array = sa.bindparam("ids", type_=postgresql.ARRAY(kind))
                match = table.c[self.key] == sa.func.any(array)
                return sa.select(*self._select_list(table)).where(match)
            return sa.select(*self._select_list(table)).where(table.c[self.key].in_(ids))
        assert self.spec.query is not None
        query = sa.text(self.spec.query).bindparams(ids)
        names = dict.fromkeys([self.key, *self.columns.values()])
        if self.spec.observed_at is not None:
            names[self.spec.observed_at] = None
        subquery = query.columns(*(sa.column(n) for n in names)).subquery("doorstep_lookup")
        return sa.select(*self._select_list(subquery))

    def _scan_statement(self, resume: bool) -> Any:
        if self.spec.table is not None:
            source = self._table()
        else:
            assert self.spec.scan_query is not None
            names = dict.fromkeys([self.key, *self.columns.values()])
            if self.spec.observed_at is not None:
                names[self.spec.observed_at] = None
            source = (
                sa.text(self.spec.scan_query)
                .columns(*(sa.column(n) for n in names))
                .subquery("doorstep_scan")
            )
        statement = sa.select(*self._select_list(source)).order_by(source.c[self.key])
        if resume:
            statement = statement.where(source.c[self.key] > sa.bindparam("after"))
        return statement

    # values

    def _bind_id(self, entity_id: str) -> Any:
        if self.spec.id_type == "int":
            try:
                return int(source_id(entity_id, "int"))
            except ValueError:
                return -(2**63)  # matches no row: the entity is unknown, as it should be
        return entity_id

    def _row(self, row: Sequence[Any]) -> tuple[str, FeatureRow]:
        values = dict(zip(self.columns, row[1 : 1 + len(self.columns)], strict=True))
        observed = observed_time(row[-1]) if self.spec.observed_at is not None else None
        return str(row[0]), FeatureRow(values, observed)

    def _text(self, error: BaseException) -> str:
        detail = str(getattr(error, "orig", None) or error).strip().splitlines()
        text = detail[0] if detail else type(error).__name__
        return text.replace(self._password, "***") if self._password else text

    def _detail(self, error: BaseException, what: str) -> str:
        return f"feature source {self.name!r} (sql) {what}: {self._text(error)}"

    def _unavailable(self, error: BaseException) -> FeatureSourceUnavailableError:
        return FeatureSourceUnavailableError(
            self.name, self._detail(error, "failed") + "; retry later"
        )
