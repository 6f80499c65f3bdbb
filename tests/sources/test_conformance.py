"""Every built-in feature source passes doorstep.testing.check_feature_source against a real
backend (SQLite, PostgreSQL, MariaDB, Redis), and the suite catches a broken plugin."""

from __future__ import annotations

import re
import socket
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from tests.connectors.test_sql import mariadb_server, mariadb_url  # noqa: F401
from tests.services.decide.test_features import redis_prefix  # noqa: F401

from doorstep.core.spec.sources import RedisSourceSpec, SQLSourceSpec
from doorstep.sources.base import FeatureRow
from doorstep.sources.redis import RedisFeatureSource
from doorstep.sources.sql import SQLFeatureSource
from doorstep.testing import check_feature_source

FIELDS = ["tenure_months", "plan"]


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(params=["sqlite", "postgresql", "mariadb"])
def sql_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'f.db'}"
    else:
        url = str(
            request.getfixturevalue("pg_url" if request.param == "postgresql" else "mariadb_url")
        )
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.execute(
            sa.text("CREATE TABLE f (customer_id VARCHAR(300), tenure_months INT, plan VARCHAR(9))")
        )
        conn.execute(sa.text("INSERT INTO f VALUES ('C-1', 3, 'basic'), ('C-2', 40, 'plus')"))
    engine.dispose()
    return url


def test_the_sql_source_conforms(sql_url: str, tmp_path: Path) -> None:
    spec = SQLSourceSpec(type="sql", url=sql_url, table="f", timeout=0.5)
    down = spec.model_copy(update={"url": f"postgresql+psycopg://a@127.0.0.1:{closed_port()}/a"})
    check_feature_source(
        SQLFeatureSource,
        spec,
        fields=FIELDS,
        known=["C-1", "C-2"],
        base_dir=tmp_path,
        unreachable=down,
    )


def test_the_redis_source_conforms(redis_prefix: tuple[str, Any]) -> None:  # noqa: F811
    prefix, client = redis_prefix
    for entity in ("C-1", "C-2"):
        client.hset(f"{prefix}:{entity}", mapping={"tenure_months": 3, "plan": "basic"})
    spec = RedisSourceSpec(type="redis", key=f"{prefix}:{{id}}", timeout=0.5)
    down = spec.model_copy(update={"url": f"redis://127.0.0.1:{closed_port()}/0"})
    check_feature_source(
        RedisFeatureSource, spec, fields=FIELDS, known=["C-1", "C-2"], unreachable=down
    )


class SloppySource:
    """A plugin with one defect at a time."""

    kind = "sloppy"
    timeout = 0.5
    defect = ""

    def __init__(self, name: str, spec: dict[str, Any]) -> None:
        self.name, self.down = name, bool(spec.get("down"))
        self.fields: tuple[str, ...] = tuple(FIELDS)

    @classmethod
    def from_spec(cls, name: str, spec: Any, **_: Any) -> SloppySource:
        return cls(name, spec)

    def lookup(self, ids: Sequence[str]) -> dict[str, FeatureRow]:
        if self.down:
            raise ConnectionRefusedError("[Errno 111] Connection refused")  # not unavailable
        found = {i: FeatureRow({"plan": "basic"}, None) for i in ids if i in ("C-1", "C-2")}
        if self.defect == "unknown ids found":
            found.update({i: FeatureRow({}, None) for i in ids})
        return found

    def close(self) -> None:
        pass


@pytest.mark.parametrize(
    ("defect", "expected"),
    [
        ("unknown ids found", "found ids it does not hold: [\"C-1' OR '1'='1\", 'Zoë"),
        ("", "unreachable: raised ConnectionRefusedError"),
    ],
)
def test_the_suite_catches_a_broken_source(defect: str, expected: str) -> None:
    class Broken(SloppySource):
        pass

    Broken.defect = defect
    with pytest.raises(AssertionError, match=re.escape(expected)):
        check_feature_source(
            Broken, {"down": False}, fields=FIELDS, known=["C-1"], unreachable={"down": True}
        )
