"""The spec's ``features`` (where inputs are looked up by entity id) and ``schedules`` (batch
runs from a source on a cron schedule). Pure models: no connection is made here."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from cronsim import CronSim, CronSimError
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from doorstep.core.outcomes import parse_duration
from doorstep.core.suggest import did_you_mean

if TYPE_CHECKING:
    from doorstep.core.spec.loader import SpecDocument
    from doorstep.errors import SpecIssue

__all__ = [
    "FeastSourceSpec",
    "FeatureSourceSpec",
    "RedisSourceSpec",
    "SQLSourceSpec",
    "ScheduleSpec",
    "source_columns",
    "source_issues",
]

NAME_PATTERN = r"^[A-Za-z_][A-Za-z0-9_]*$"


def check_cron(value: str) -> str:
    """``value`` when it is a five-field cron expression ``cronsim`` can follow."""
    fields = value.split()
    if len(fields) != 5:
        raise ValueError(
            f"expected 5 cron fields (minute hour day-of-month month day-of-week), got "
            f"{len(fields)} in {value!r}"
        )
    try:
        next(CronSim(value, datetime(2000, 1, 1, tzinfo=UTC)))
    except (CronSimError, StopIteration) as exc:
        raise ValueError(f"not a valid cron expression {value!r}: {exc}") from None
    return value


def check_timezone(value: str) -> str:
    """``value`` when it is an IANA time zone name."""
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(
            f"unknown time zone {value!r}; use an IANA name such as 'UTC' or 'Europe/Berlin'"
        ) from None
    return value


class _Strict(BaseModel):
    model_config = ConfigDict(
        extra="forbid", frozen=True, populate_by_name=True, use_attribute_docstrings=True
    )


class _Source(_Strict):
    columns: dict[str, str] | list[str] | None = None
    """Input field → the source's column (or hash field, or Feast feature) holding it, e.g.
    ``{tenure_months: tenure}``; a list names fields whose column has the same name. Default:
    every input field, under its own name."""
    observed_at: str | None = None
    """Column (or hash field) holding when the row was last updated (a timestamp, or seconds
    since 1970): the features' age is measured from it."""
    max_age: str | None = None
    """Oldest features accepted, as a duration (``2d``, ``12h``, ``90m``); needs
    ``observed_at``."""
    on_stale: Literal["refuse", "flag"] = "refuse"
    """Features older than ``max_age``: ``refuse`` the record (an error naming the source and
    the age), or ``flag`` it (decided, and its lineage says ``stale: true``)."""
    timeout: Annotated[float, Field(gt=0, le=60)] = 1.0
    """Seconds a lookup may take (connecting included) before the source counts as down: the
    request then answers 503 with ``Retry-After`` and nothing is recorded."""
    cache_ttl: Annotated[float, Field(ge=0, le=3600)] = 0.0
    """Seconds a looked-up row is reused without asking the source again (0: no cache)."""
    cache_size: Annotated[int, Field(ge=1)] = 100_000
    """Most rows kept in the cache."""

    @field_validator("max_age")
    @classmethod
    def _check_max_age(cls, value: str | None) -> str | None:
        if value is not None:
            parse_duration(value)
        return value

    @model_validator(mode="after")
    def _check_age(self) -> _Source:
        if self.max_age is not None and self.observed_at is None:
            raise ValueError(
                "'max_age' needs 'observed_at', the column that says when each row was updated"
            )
        return self

    @property
    def max_age_delta(self) -> timedelta | None:
        return None if self.max_age is None else parse_duration(self.max_age)


class SQLSourceSpec(_Source):
    type: Literal["sql"]
    url: str
    """SQLAlchemy URL of the database, e.g. ``postgresql+psycopg://app@db/app``,
    ``mysql+pymysql://app@db/app`` or ``sqlite:///features.db`` (relative to the spec)."""
    table: str | None = None
    """Table (or ``schema.table``) with one row per entity; doorstep builds the query."""
    query: str | None = None
    """Instead of ``table``: a SELECT whose ``WHERE`` takes the ids as ``:ids``, e.g.
    ``SELECT c.id AS customer_id, s.tenure AS tenure_months FROM customers c JOIN stats s
    ON s.id = c.id WHERE c.id IN :ids``. The ids are bound parameters, never text."""
    scan_query: str | None = None
    """With ``query``: a SELECT of every entity (no ``:ids``) for batch runs and schedules;
    doorstep reads it in id order."""
    key: Annotated[str, Field(pattern=NAME_PATTERN)] | None = None
    """Column holding the entity id (default: the spec's ``inputs.id``)."""
    id_type: Literal["string", "int"] = "string"
    """Type of the id column: ids arrive as text and are bound as this type."""
    pool_size: Annotated[int, Field(ge=1, le=100)] = 5
    """Connections kept open to the database."""

    @model_validator(mode="after")
    def _check_query(self) -> SQLSourceSpec:
        if (self.table is None) == (self.query is None):
            raise ValueError("give either 'table' or 'query' (a SELECT with ':ids')")
        if self.query is not None and ":ids" not in self.query:
            raise ValueError("'query' must take the entity ids as ':ids', e.g. WHERE id IN :ids")
        if self.scan_query is not None:
            if self.query is None:
                raise ValueError("'scan_query' goes with 'query'; with 'table' the scan is built")
            if ":ids" in self.scan_query:
                raise ValueError("'scan_query' reads every entity: it takes no ':ids'")
        return self

    @property
    def scannable(self) -> bool:
        """Batch runs can read every entity of this source."""
        return self.table is not None or self.scan_query is not None


class RedisSourceSpec(_Source):
    type: Literal["redis"]
    url: str = "redis://127.0.0.1:6379/0"
    """Redis URL, e.g. ``redis://:${REDIS_PASSWORD}@cache:6379/0`` (``rediss://`` for TLS)."""
    key: str
    """Key of each entity's hash, with ``{id}`` for the entity id, e.g. ``customer:{id}``."""
    pool_size: Annotated[int, Field(ge=1, le=100)] = 10
    """Most connections open at once."""

    @field_validator("key")
    @classmethod
    def _check_key(cls, value: str) -> str:
        if "{id}" not in value:
            raise ValueError(f"'key' must hold '{{id}}' where the entity id goes, got {value!r}")
        return value


class FeastSourceSpec(_Source):
    type: Literal["feast"]
    repo: str
    """Folder of the Feast feature repository (``feature_store.yaml``), relative to the spec."""
    entity: Annotated[str, Field(pattern=NAME_PATTERN)]
    """Join key of the entity in Feast, e.g. ``driver_id``."""
    id_type: Literal["string", "int"] = "string"
    """Type of the join key: ids arrive as text and are passed as this type."""

    @model_validator(mode="after")
    def _check_features(self) -> FeastSourceSpec:
        if not isinstance(self.columns, dict) or not self.columns:
            raise ValueError(
                "'columns' must map input fields to Feast features, e.g. "
                "{conv_rate: 'driver_hourly_stats:conv_rate'}"
            )
        bad = [f for f in self.columns.values() if ":" not in f]
        if bad:
            raise ValueError(f"Feast features are named 'view:feature', got {bad[0]!r}")
        return self


FeatureSourceSpec = Annotated[
    SQLSourceSpec | RedisSourceSpec | FeastSourceSpec, Field(discriminator="type")
]


class ScheduleSpec(_Strict):
    cron: str
    """When to run, as a cron expression (minute hour day-of-month month day-of-week), e.g.
    ``0 2 * * *`` for 02:00 every night."""
    source: str
    """The feature source (a key of ``features``, of type ``sql``) whose entities are decided."""
    timezone: str = "UTC"
    """Time zone of the cron expression (IANA name, e.g. ``Europe/Berlin``)."""
    catch_up: str = "1h"
    """A slot missed while no server ran is still run if the server is up within this long
    after it (a duration such as ``1h``); older slots are skipped."""
    deliver: bool = True
    """Enqueue the decisions' actions through the outbox (``false``: record decisions only)."""
    explain: bool | None = None
    """Explain every decision (``true``), none (``false``), or as ``explain.for`` says."""
    chunk_rows: Annotated[int, Field(ge=1, le=100_000)] = 1_000
    """Entities decided and committed together; a resumed run continues after the last
    committed chunk."""

    @field_validator("catch_up")
    @classmethod
    def _check_catch_up(cls, value: str) -> str:
        parse_duration(value)
        return value

    @field_validator("cron")
    @classmethod
    def _check_cron(cls, value: str) -> str:
        return check_cron(value)

    @field_validator("timezone")
    @classmethod
    def _check_timezone(cls, value: str) -> str:
        return check_timezone(value)


def source_columns(source: Any, fields: list[str]) -> dict[str, str]:
    """Input field → source column of ``source`` (its ``columns``, or every field)."""
    columns = source.columns
    if columns is None:
        return {name: name for name in fields}
    if isinstance(columns, list):
        return {name: name for name in columns}
    return dict(columns)


def source_issues(doc: SpecDocument) -> list[SpecIssue]:
    """``features`` and ``schedules`` against the input contract and each other."""
    spec = doc.spec
    issues: list[SpecIssue] = []
    fields = list(spec.inputs.fields)
    provided: dict[str, str] = {}
    for name, source in spec.features.items():
        for field in source_columns(source, fields):
            key = ("features", name, "columns")
            if field == spec.inputs.id:
                issues.append(
                    doc.issue(key, f"{field!r} is the entity id: sources are looked up by it")
                )
            elif field not in spec.inputs.fields:
                issues.append(
                    doc.issue(
                        key,
                        f"unknown input field {field!r}{did_you_mean(field, fields)}; the "
                        f"columns map to the fields of 'inputs'",
                    )
                )
            elif field in provided:
                issues.append(
                    doc.issue(key, f"{field!r} comes from source {provided[field]!r} already")
                )
            else:
                provided[field] = name
    names = list(spec.features)
    for name, schedule in spec.schedules.items():
        chosen = spec.features.get(schedule.source)
        key = ("schedules", name, "source")
        if chosen is None:
            issues.append(
                doc.issue(
                    key,
                    f"unknown feature source {schedule.source!r}"
                    + did_you_mean(schedule.source, names)
                    + (f"; declared sources: {', '.join(names)}" if names else ""),
                )
            )
        elif not isinstance(chosen, SQLSourceSpec) or not chosen.scannable:
            issues.append(
                doc.issue(
                    key,
                    f"source {schedule.source!r} cannot list its entities: scheduled runs read "
                    "a 'sql' source with 'table', or with 'query' and 'scan_query'",
                )
            )
    return issues
