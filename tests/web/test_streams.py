"""``/v1/streams``: the figures of ``doorstep streams list`` (what the consumers reported to the
store), with the streams the served specs declare and nobody reported on; roles of a read route;
RFC 9457 problems for an unknown or ambiguous stream."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import pytest
from tests.web.conftest import auth

from doorstep.store.protocols import StoreContract
from doorstep.store.streams import ConsumerReport

pytestmark = pytest.mark.anyio


def report(store: StoreContract, app: str, stream: str, consumer: str, **counts: object) -> None:
    now = datetime.now(UTC)
    fields = {"started_at": now - timedelta(minutes=5), "updated_at": now, **counts}
    store.report_stream_consumer(ConsumerReport(app, stream, consumer, "nats", **fields))  # type: ignore[arg-type]


async def test_streams_show_what_the_consumers_reported(
    client: httpx.AsyncClient, store: StoreContract, keys: dict[str, str]
) -> None:
    failed_at = datetime.now(UTC) - timedelta(seconds=30)
    report(store, "churn", "orders", "a:1", received=10, decided=7, duplicates=1, rejected=2,
           dead_letters=2, errors=1, lag=3, rate=4.5, last_error="database is locked",
           last_error_at=failed_at)  # fmt: skip
    report(store, "churn", "orders", "b:2", received=5, decided=5, rate=2.0, lag=1)
    report(store, "churn", "clicks", "a:1", received=1, decided=1)
    answer = await client.get("/v1/streams", headers=auth(keys, "viewer"))
    assert answer.status_code == 200, answer.text
    streams = {s["stream"]: s for s in answer.json()["streams"]}
    assert list(streams) == ["clicks", "orders"]
    orders = streams["orders"]
    assert (orders["received"], orders["decided"], orders["duplicates"]) == (15, 12, 1)
    assert (orders["rejected"], orders["dead_letters"], orders["errors"]) == (2, 2, 1)
    assert orders["consumers"] == 2 and orders["messages_per_second"] == 6.5
    assert orders["lag"] == 1  # the latest report's
    assert orders["last_error"] == "database is locked"
    assert orders["last_error_at"] == failed_at.isoformat()
    one = await client.get("/v1/streams/orders", headers=auth(keys, "reviewer"))
    assert one.status_code == 200 and one.json() == orders
    only = await client.get("/v1/streams", params={"app": "fraud"})
    assert only.json() == {"streams": []}


async def test_client_keys_and_strangers_are_refused(
    client: httpx.AsyncClient, keys: dict[str, str]
) -> None:
    assert (await client.get("/v1/streams", headers=auth(keys, "client"))).status_code == 403
    refused = await client.get("/v1/streams/orders", headers={"Authorization": "Bearer nope"})
    assert refused.status_code == 401
    assert refused.headers["content-type"] == "application/problem+json"


async def test_unknown_and_ambiguous_streams_are_problems(
    client: httpx.AsyncClient, store: StoreContract
) -> None:
    report(store, "churn", "orders", "a:1", received=1)
    report(store, "fraud", "orders", "a:1", received=2)
    missing = await client.get("/v1/streams/ordres")
    assert missing.status_code == 404
    body = missing.json()
    assert body["code"] == "not_found" and "did you mean 'orders'" in body["detail"]
    assert missing.headers["content-type"] == "application/problem+json"
    ambiguous = await client.get("/v1/streams/orders")
    assert ambiguous.status_code == 422 and ambiguous.json()["code"] == "input_invalid"
    assert "churn, fraud" in ambiguous.json()["detail"] and "?app=" in ambiguous.json()["detail"]
    chosen = await client.get("/v1/streams/orders", params={"app": "fraud"})
    assert chosen.status_code == 200 and chosen.json()["received"] == 2
