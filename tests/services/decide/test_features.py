"""Feature lookups against real sources: a SQLite file, PostgreSQL (the session's throwaway
cluster), MariaDB (127.0.0.1:3306) and Redis (127.0.0.1:6379, keys under a prefix of its own).
Unreachable servers fail these tests unless DOORSTEP_TEST_MARIADB / DOORSTEP_TEST_REDIS=skip."""

from __future__ import annotations

import gc
import os
import socket
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from tests.connectors.test_sql import mariadb_server, mariadb_url  # noqa: F401

from doorstep.core.spec.models import Spec
from doorstep.core.spec.sources import RedisSourceSpec, SQLSourceSpec
from doorstep.errors import FeatureSourceUnavailableError
from doorstep.services.decide.features import FeatureLookup
from doorstep.sources.redis import RedisFeatureSource
from doorstep.sources.sql import SQLFeatureSource

REDIS_ENV = "DOORSTEP_TEST_REDIS"
INPUTS = {
    "id": "customer_id",
    "fields": {
        "tenure_months": {"type": "int", "min": 0},
        "plan": {"type": "category", "values": ["basic", "plus", "premium"]},
        "autopay": {"type": "bool"},
        "nps_score": {"type": "int", "required": False},
    },
}


def spec_with(features: dict[str, Any]) -> Spec:
    return Spec.model_validate(
        {
            "app": {"name": "t", "owner": "o"},
            "model": {"path": "m"},
            "inputs": INPUTS,
            "features": features,
        }
    )


def fill_table(url: str, rows: int, *, updated: datetime) -> None:
    engine = sa.create_engine(url)
    meta = sa.MetaData()
    table = sa.Table(
        "customer_features",
        meta,
        sa.Column("customer_id", sa.String(32), primary_key=True),
        sa.Column("tenure_months", sa.Integer),
        sa.Column("plan", sa.String(16)),
        sa.Column("autopay", sa.Integer),
        sa.Column("nps_score", sa.Integer, nullable=True),
        sa.Column("updated_at", sa.DateTime),
    )
    meta.create_all(engine)
    with engine.begin() as conn:
        conn.execute(
            table.insert(),
            [
                {
                    "customer_id": f"C-{i}",
                    "tenure_months": i % 50,
                    "plan": ("basic", "plus", "premium")[i % 3],
                    "autopay": i % 2,
                    "nps_score": None if i % 5 == 0 else i % 10,
                    "updated_at": updated.replace(tzinfo=None),
                }
                for i in range(rows)
            ],
        )
    engine.dispose()


@pytest.fixture(params=["sqlite", "postgresql", "mariadb"])
def table_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'features.db'}"
    elif request.param == "postgresql":
        url = str(request.getfixturevalue("pg_url"))
    else:
        url = str(request.getfixturevalue("mariadb_url"))
    fill_table(url, 1_200, updated=datetime.now(UTC) - timedelta(hours=2))
    return url


def sql_lookup(url: str, tmp_path: Path, **settings: Any) -> FeatureLookup:
    source = {"type": "sql", "url": url, "table": "customer_features", **settings}
    spec = spec_with({"db": source})
    lookup = FeatureLookup.open(spec, tmp_path)
    assert lookup is not None
    return lookup


def count_statements(lookup: FeatureLookup) -> list[str]:
    source = lookup.source("db")
    assert isinstance(source, SQLFeatureSource)
    seen: list[str] = []
    sa.event.listen(
        source.engine, "before_cursor_execute", lambda *args: seen.append(args[2]), retval=False
    )
    return seen


def test_a_thousand_entities_in_one_round_trip_request_values_win(
    table_url: str, tmp_path: Path
) -> None:
    lookup = sql_lookup(table_url, tmp_path, observed_at="updated_at")
    statements = count_statements(lookup)
    records: list[dict[str, Any]] = [{"customer_id": f"C-{i}"} for i in range(1_000)]
    records[7] = {"customer_id": "C-7", "plan": "premium", "nps_score": None}
    result = lookup.enrich(records)
    lookup.close()
    assert len([s for s in statements if "customer_features" in s]) == 1
    assert not result.errors and not result.failed
    first = result.records[1]
    assert first == {
        "customer_id": "C-1",
        "tenure_months": 1,
        "plan": "plus",
        "autopay": True,
        "nps_score": 1,
    }
    assert result.records[7]["plan"] == "premium"  # the request's value, not the table's 'plus'
    assert result.records[7]["nps_score"] is None  # present in the request, even as null
    lineage = result.lineage[7]
    assert lineage is not None and lineage["request"] == ["plan", "nps_score"]
    source = lineage["sources"]["db"]
    assert source["fields"] == ["tenure_months", "autopay"]
    assert 7_000 < source["age_seconds"] < 7_400


def test_unknown_entities_and_hostile_ids_are_refused_never_decided(
    table_url: str, tmp_path: Path
) -> None:
    lookup = sql_lookup(table_url, tmp_path)
    hostile = "C-1' OR '1'='1"
    result = lookup.enrich([{"customer_id": "C-missing"}, {"customer_id": hostile}])
    lookup.close()
    assert [e[0].rule for e in result.errors.values()] == ["entity_unknown"] * 2
    assert result.errors[1][0].entity_id == hostile
    assert "unknown to feature source 'db'" in result.errors[0][0].message


def test_complete_records_ask_no_source(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'f.db'}"
    fill_table(url, 3, updated=datetime.now(UTC))
    lookup = sql_lookup(url, tmp_path)
    statements = count_statements(lookup)
    record = {"customer_id": "C-404", "tenure_months": 3, "plan": "basic", "autopay": False}
    result = lookup.enrich([record])
    lookup.close()
    assert statements == [] and result.records == [record]
    # every input came with the request, and the lineage says so
    assert result.lineage == [{"request": ["tenure_months", "plan", "autopay"], "sources": {}}]


@pytest.mark.parametrize("on_stale", ["refuse", "flag"])
def test_features_older_than_max_age(tmp_path: Path, on_stale: str) -> None:
    url = f"sqlite:///{tmp_path / 'f.db'}"
    fill_table(url, 3, updated=datetime.now(UTC) - timedelta(days=3))
    lookup = sql_lookup(url, tmp_path, observed_at="updated_at", max_age="2d", on_stale=on_stale)
    result = lookup.enrich([{"customer_id": "C-1"}])
    lookup.close()
    if on_stale == "refuse":
        [error] = result.errors[0]
        assert error.rule == "stale" and "3.0 days old; max_age is 2d" in error.message
    else:
        assert not result.errors
        lineage = result.lineage[0]
        assert lineage is not None and lineage["sources"]["db"]["stale"] is True


def test_a_slow_source_fails_within_its_timeout(pg_url: str, tmp_path: Path) -> None:
    fill_table(pg_url, 3, updated=datetime.now(UTC))
    query = "SELECT f.*, pg_sleep(3) AS slow FROM customer_features f WHERE f.customer_id IN :ids"
    spec = spec_with({"db": {"type": "sql", "url": pg_url, "query": query, "timeout": 0.3}})
    lookup = FeatureLookup.open(spec, tmp_path)
    assert lookup is not None
    started = time.perf_counter()
    result = lookup.enrich([{"customer_id": "C-1"}, {"customer_id": "C-2", "plan": "basic"}])
    elapsed = time.perf_counter() - started
    lookup.close()
    # the query still running when the caller gave up ends before the source closes: no
    # connection is left for the garbage collector to find unclosed (a ResourceWarning here)
    gc.collect()
    assert set(result.failed) == {0, 1} and elapsed < 1.5
    assert "did not answer within 0.3 s" in result.failed[0].message or "statement timeout" in (
        result.failed[0].message
    )


def test_a_source_that_is_down_fails_fast(tmp_path: Path) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    url = f"postgresql+psycopg://x:secret@127.0.0.1:{port}/none"
    lookup = sql_lookup(url, tmp_path)
    started = time.perf_counter()
    result = lookup.enrich([{"customer_id": "C-1"}])
    lookup.close()
    [failure] = result.failed.values()
    assert isinstance(failure, FeatureSourceUnavailableError)
    assert "secret" not in failure.message and time.perf_counter() - started < 1.5


def test_the_cache_answers_repeated_lookups(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'f.db'}"
    fill_table(url, 5, updated=datetime.now(UTC))
    lookup = sql_lookup(url, tmp_path, cache_ttl=60)
    statements = count_statements(lookup)
    assert lookup.enrich([{"customer_id": "C-1"}]).looked_up == 1
    again = lookup.enrich([{"customer_id": "C-1"}, {"customer_id": "C-2"}])
    lookup.close()
    assert again.looked_up == 1 and len(statements) == 2
    assert again.records[0]["tenure_months"] == 1


# Redis


@pytest.fixture
def redis_prefix() -> Iterator[tuple[str, Any]]:
    if os.environ.get(REDIS_ENV) == "skip":
        pytest.skip(f"Redis tests skipped ({REDIS_ENV}=skip)")
    import redis

    client = redis.Redis(host="127.0.0.1", port=6379, socket_timeout=2)
    try:
        client.ping()
    except redis.RedisError as error:
        pytest.fail(
            f"Redis is not reachable on 127.0.0.1:6379 ({error}); scripts/test starts one, "
            f"or set {REDIS_ENV}=skip"
        )
    prefix = f"doorstep-test-{uuid.uuid4().hex[:12]}"
    try:
        yield prefix, client
    finally:
        keys = list(client.scan_iter(f"{prefix}:*"))
        if keys:
            client.delete(*keys)
        client.close()


def test_redis_hashes_in_one_pipeline(redis_prefix: tuple[str, Any], tmp_path: Path) -> None:
    prefix, client = redis_prefix
    stamp = (datetime.now(UTC) - timedelta(minutes=30)).timestamp()
    for i in range(300):
        client.hset(
            f"{prefix}:C-{i}",
            mapping={"tenure": i, "plan": "plus", "autopay": "1", "updated": stamp},
        )
    source = {
        "type": "redis",
        "url": "redis://127.0.0.1:6379/0",
        "key": f"{prefix}:{{id}}",
        "columns": {"tenure_months": "tenure", "plan": "plan", "autopay": "autopay"},
        "observed_at": "updated",
    }
    lookup = FeatureLookup.open(spec_with({"cache": source}), tmp_path)
    assert lookup is not None
    redis_source = lookup.source("cache")
    assert isinstance(redis_source, RedisFeatureSource)
    calls: list[int] = []
    execute = redis_source.client.pipeline().__class__.execute

    def counted(self: Any, *args: Any, **kwargs: Any) -> Any:
        calls.append(len(self.command_stack))
        return execute(self, *args, **kwargs)

    pipeline_class = redis_source.client.pipeline().__class__
    original = pipeline_class.execute
    pipeline_class.execute = counted
    try:
        records = [{"customer_id": f"C-{i}"} for i in range(300)] + [{"customer_id": "C-x"}]
        result = lookup.enrich(records)
    finally:
        pipeline_class.execute = original
        lookup.close()
    assert calls == [301]  # one round trip for every entity
    assert result.records[5] == {
        "customer_id": "C-5",
        "tenure_months": 5,
        "plan": "plus",
        "autopay": True,
    }
    lineage = result.lineage[5]
    assert lineage is not None and 1_750 < lineage["sources"]["cache"]["age_seconds"] < 1_900
    assert result.errors[300][0].rule == "entity_unknown"


def test_redis_down_is_unavailable(tmp_path: Path) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    spec = RedisSourceSpec(type="redis", url=f"redis://127.0.0.1:{port}/0", key="c:{id}")
    source = RedisFeatureSource("cache", spec, fields=["plan"])
    with pytest.raises(FeatureSourceUnavailableError, match="'cache' \\(redis\\) failed"):
        source.lookup(["C-1"])
    source.close()


def test_sql_query_form_binds_the_ids(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'f.db'}"
    fill_table(url, 10, updated=datetime.now(UTC))
    query = "SELECT * FROM customer_features WHERE customer_id IN :ids AND plan != 'premium'"
    spec = SQLSourceSpec(type="sql", url=url, query=query)
    source = SQLFeatureSource(
        "db", spec, id_field="customer_id", fields=["plan"], base_dir=tmp_path
    )
    found = source.lookup(["C-1", "C-2", "C-3", "C-1') OR ('1'='1"])
    source.close()
    assert sorted(found) == ["C-1", "C-3"]  # C-2 is premium; the hostile id is only a value


def test_redis_one_key_of_the_wrong_type_refuses_its_record_alone(
    redis_prefix: tuple[str, Any], tmp_path: Path
) -> None:
    prefix, client = redis_prefix
    for i in range(8):
        client.hset(f"{prefix}:C-{i}", mapping={"tenure": i, "plan": "plus", "autopay": "1"})
    client.set(f"{prefix}:C-3", "not a hash")  # WRONGTYPE for HGETALL: the whole pipeline failed
    source = {
        "type": "redis",
        "key": f"{prefix}:{{id}}",
        "columns": {"tenure_months": "tenure", "plan": "plan", "autopay": "autopay"},
    }
    lookup = FeatureLookup.open(spec_with({"cache": source}), tmp_path)
    assert lookup is not None
    result = lookup.enrich([{"customer_id": f"C-{i}"} for i in range(8)])
    lookup.close()
    assert result.failed == {} and list(result.errors) == [3]
    [error] = result.errors[3]
    assert error.rule == "id_invalid" and "WRONGTYPE" in error.message
    assert result.records[7]["tenure_months"] == 7
