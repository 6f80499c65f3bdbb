"""Hostile requests get problems (4xx naming what is wrong), never a 500, never another
client's failure, and never more body read than the limit: text that is not Unicode, deep
nesting, bodies beyond the limit with or without a Content-Length, bodies of anonymous callers,
and dates at the ends of the calendar."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
from starlette.types import Message
from tests.web.conftest import customer

from doorstep.services.apps.registry import Registry
from doorstep.store.protocols import StoreContract
from doorstep.web import ServeSettings, create_app

pytestmark = pytest.mark.anyio

SURROGATE = '"\\ud800"'


def poisoned(record: dict[str, Any], field: str) -> str:
    """``record`` as JSON with ``field`` holding a lone surrogate (valid JSON, not text)."""
    text = json.dumps({**record, field: "POISON"})
    return text.replace('"POISON"', SURROGATE)


async def test_text_that_is_not_unicode_fails_its_own_record_only(
    client: httpx.AsyncClient, store: StoreContract
) -> None:
    headers = {"Content-Type": "application/json"}
    for round_ in range(3):
        good = [customer(1000 * round_ + i) for i in range(30)]
        bad = poisoned(customer(999_999), "region")
        answers = await asyncio.gather(
            client.post("/v1/apps/churn/decisions", content=bad, headers=headers),
            *(client.post("/v1/apps/churn/decisions", json=r) for r in good),
        )
        refused, *accepted = answers
        assert refused.status_code == 422, refused.text
        [error] = refused.json()["errors"]
        assert (error["field"], error["rule"]) == ("region", "encoding")
        assert error["entity_id"] == "C-999999"
        assert [a.status_code for a in accepted] == [200] * 30
        for answer in accepted:
            assert store.get_decision(answer.json()["decision_id"]) is not None
    # in an explicit batch, the bad record is listed and the good one decided
    records = [poisoned(customer(1), "plan"), json.dumps(customer(2))]
    body = '{"records": [' + ", ".join(records) + "]}"
    batch = await client.post("/v1/apps/churn/decisions", content=body, headers=headers)
    assert batch.status_code == 200
    assert [d["entity_id"] for d in batch.json()["decisions"]] == ["C-2"]
    assert [(e["record"], e["field"]) for e in batch.json()["errors"]] == [(0, "plan")]
    # a key that is not text, and outcomes alike
    key = '{"\\udc00": 1, "customer_id": "C-5"}'
    assert (await client.post("/v1/apps/churn/decisions", content=key)).status_code == 422
    outcome = '{"entity_id": "C-1", "churned": ' + SURROGATE + ', "observed_at": "2026-01-01"}'
    answer = await client.post("/v1/apps/churn/outcomes", content=outcome, headers=headers)
    assert answer.status_code == 422
    assert answer.json()["errors"][0]["rule"] == "encoding"


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "/v1/apps/churn/decisions"),
        ("POST", "/v1/apps/churn/outcomes"),
        ("POST", "/v1/decisions/0193/review"),
        ("POST", "/v1/deliveries/0193/retry"),
    ],
)
async def test_deep_nesting_and_broken_json_are_input_problems(
    client: httpx.AsyncClient, method: str, path: str
) -> None:
    for body in ('{"a":' * 5000 + "1" + "}" * 5000, "[" * 3000 + "]" * 3000, '{"reason": '):
        answer = await client.request(
            method, path, content=body, headers={"Content-Type": "application/json"}
        )
        assert answer.status_code == 422, (path, answer.status_code, answer.text[:200])
        problem = answer.json()
        assert problem["code"] == "input_invalid"
        assert problem["errors"][0]["rule"] == "json"


@pytest.fixture
async def small(
    registry: Registry, store: StoreContract, keys: dict[str, str]
) -> AsyncIterator[tuple[httpx.AsyncClient, dict[str, str]]]:
    """A client of an app that accepts bodies of at most 4,096 bytes."""
    app = create_app(registry, store, ServeSettings(max_body_bytes=4096))
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as test_client:
        yield test_client, keys
    await app.state.service.close()


class Stream:
    """A body sent in 1 KiB chunks with no Content-Length; counts what the server pulled."""

    def __init__(self, total: int) -> None:
        self.total, self.pulled = total, 0

    async def __aiter__(self) -> AsyncIterator[bytes]:
        while self.pulled < self.total:
            self.pulled += 1024
            yield b"x" * 1024


@pytest.mark.parametrize(
    ("method", "path", "role"),
    [
        ("POST", "/sign-in", None),
        ("POST", "/v1/apps/churn/decisions", "client"),
        ("POST", "/v1/apps/churn/outcomes", "client"),
        ("POST", "/v1/decisions/0193/review", "reviewer"),
        ("POST", "/v1/deliveries/0193/cancel", "admin"),
        ("POST", "/keys", None),
    ],
)
async def test_one_body_limit_for_every_route_enforced_while_reading(
    small: tuple[httpx.AsyncClient, dict[str, str]], method: str, path: str, role: str | None
) -> None:
    client, keys = small
    headers = {} if role is None else {"Authorization": f"Bearer {keys[role]}"}
    # a page without a session sends its caller to sign in first, without reading the body
    refused = (303,) if role is None and path != "/sign-in" else (413,)
    declared = await client.request(
        method, path, content=b"x" * 10_000, headers={**headers, "Content-Type": "text/plain"}
    )
    assert declared.status_code in refused, declared.text
    if path.startswith("/v1/"):  # pages answer with a page
        assert declared.json()["code"] == "payload_too_large"
    stream = Stream(64 * 1024 * 1024)  # 64 MiB, never declared
    streamed = await client.request(method, path, content=stream, headers=headers)
    assert streamed.status_code in refused, streamed.text
    assert stream.pulled <= 4096 + 1024  # cut off at the limit, not buffered


async def test_anonymous_callers_are_refused_before_their_body_is_read(
    small: tuple[httpx.AsyncClient, dict[str, str]],
) -> None:
    client, _ = small
    for path in ("/v1/decisions/0193/review", "/v1/deliveries/0193/retry"):
        stream = Stream(3 * 1024)
        answer = await client.post(path, content=stream)
        assert answer.status_code == 401 and answer.json()["code"] == "unauthenticated"
        assert stream.pulled == 0
        broken = await client.post(path, content=b"{not json")
        assert broken.status_code == 401


@pytest.mark.parametrize(
    "params",
    [
        {"until": "9999-12-31T23:59:59Z"},
        {"since": "0001-01-02T00:00:00Z"},
        {"since": "0001-01-01T00:00:00Z", "until": "0001-01-03T00:00:00Z", "window": "week"},
        {"until": "0001-01-01T00:00:01Z", "periods": 3},
        {"until": "9999-12-31T23:59:59.999999Z", "window": "hour", "periods": 500},
    ],
)
async def test_dates_at_the_ends_of_the_calendar_are_answered(
    client: httpx.AsyncClient, params: dict[str, Any]
) -> None:
    answer = await client.get("/v1/apps/churn/monitoring", params=params)
    assert answer.status_code in (200, 422), answer.text
    if answer.status_code == 422:
        assert answer.json()["code"] == "input_invalid"


async def test_an_idempotency_key_belongs_to_the_key_that_sent_it(
    client: httpx.AsyncClient, keys: dict[str, str], store: StoreContract
) -> None:
    first = await client.post(
        "/v1/apps/churn/decisions", json=customer(7), headers={"Idempotency-Key": "same"}
    )
    other = {"Authorization": f"Bearer {keys['client']}", "Idempotency-Key": "same"}
    second = await client.post("/v1/apps/churn/decisions", json=customer(7), headers=other)
    again = await client.post("/v1/apps/churn/decisions", json=customer(8), headers=other)
    assert first.status_code == second.status_code == 200
    assert "idempotent-replayed" not in second.headers
    assert first.json()["decision_id"] != second.json()["decision_id"]
    assert again.status_code == 422 and again.json()["code"] == "idempotency_conflict"
    assert "'same'" in again.json()["detail"]  # the key as sent, not as stored


async def test_every_answer_says_nosniff_and_a_405_lists_every_method(
    client: httpx.AsyncClient,
) -> None:
    for method, path in (
        ("GET", "/v1/apps"),
        ("GET", "/nowhere"),
        ("GET", "/docs"),
        ("GET", "/static/vendor/swagger-ui/swagger-ui-bundle.js"),
        ("PUT", "/v1/apps/churn/decisions"),
    ):
        answer = await client.request(method, path)
        assert answer.headers["x-content-type-options"] == "nosniff", path
    put = await client.put("/v1/apps/churn/decisions")
    assert put.status_code == 405 and put.json()["code"] == "method_not_allowed"
    assert put.headers["allow"] == "GET, HEAD, POST"
    assert "allowed: GET, HEAD, POST" in put.json()["detail"]


async def test_the_api_docs_load_nothing_from_elsewhere_and_declare_the_key(
    client: httpx.AsyncClient,
) -> None:
    page = await client.get("/docs", headers={"Authorization": ""})
    assert page.status_code == 200
    assert "http" not in page.text.replace("http-equiv", "")  # no absolute URL, no CDN
    policy = page.headers["content-security-policy"]
    assert "script-src 'self';" in policy and "frame-ancestors 'none'" in policy
    for asset in ("/static/vendor/swagger-ui/swagger-ui.css", "/static/docs.js"):
        assert (await client.get(asset)).status_code == 200
    document = (await client.get("/openapi.json")).json()
    assert document["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"
    assert document["security"] == [{"bearer": []}]
    assert document["paths"]["/healthz"]["get"]["security"] == []
    assert "/redoc" not in document["paths"] and (await client.get("/redoc")).status_code == 404


async def test_a_client_that_hangs_up_mid_upload_is_not_an_error(
    registry: Registry, store: StoreContract, caplog: pytest.LogCaptureFixture
) -> None:
    app = create_app(registry, store, ServeSettings())
    sent: list[Message] = []
    messages: Iterator[Message] = iter(
        [
            {"type": "http.request", "body": b'{"customer_id": "C-1",', "more_body": True},
            {"type": "http.disconnect"},
        ]
    )

    async def receive() -> Message:
        return next(messages)

    async def send(message: Message) -> None:
        sent.append(message)

    _, client_key = store.create_key("gone", "client", actor="test")
    scope = {
        "type": "http",
        "method": "POST",
        "path": "/v1/apps/churn/outcomes",
        "raw_path": b"/v1/apps/churn/outcomes",
        "query_string": b"",
        "headers": [(b"authorization", f"Bearer {client_key}".encode())],
        "scheme": "http",
        "server": ("t", 80),
        "client": ("127.0.0.1", 1),
        "http_version": "1.1",
        "root_path": "",
        "app": app,
    }
    with caplog.at_level("INFO", logger="doorstep.web"):
        await app(scope, receive, send)
    assert not [r for r in caplog.records if r.levelname == "ERROR"], caplog.text
    assert "client disconnected" in caplog.text
    await app.state.service.close()
