"""Every error answer is an RFC 9457 problem of one shape, whatever raised it."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from tests.web.conftest import customer
from tests.web.fakes import FakeStore, as_store

from doorstep.errors import DoorstepError
from doorstep.services.apps.registry import Registry
from doorstep.web import create_app
from doorstep.web.problems import STATUS_BY_ERROR, status_of

pytestmark = pytest.mark.anyio
KEYS = {"type", "title", "status", "detail", "instance", "code"}
ERROR_KEYS = {"record", "entity_id", "field", "rule", "message"}


def check_problem(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    problem: dict[str, Any] = response.json()
    assert KEYS <= set(problem) <= KEYS | {"errors"}, problem
    assert problem["status"] == status and problem["code"] == code
    assert problem["type"].endswith("#" + code) and problem["title"] and problem["detail"]
    assert problem["instance"] == response.request.url.path
    for error in problem.get("errors", []):
        assert set(error) == ERROR_KEYS
    return problem


async def test_every_error_route_answers_a_problem(
    client: httpx.AsyncClient, keys: dict[str, str]
) -> None:
    url = "/v1/apps/churn/decisions"
    pending = (await client.post(url, json={"records": [customer(i) for i in range(300)]})).json()
    decided = next(d for d in pending["decisions"] if d["status"] == "decided")["decision_id"]
    review = f"/v1/decisions/{decided}/review"
    cases: list[tuple[str, str, dict[str, Any], int, str]] = [
        ("POST", url, {"json": customer(1, tenure_months="x")}, 422, "input_invalid"),
        ("POST", url, {"content": b"{"}, 422, "input_invalid"),
        ("POST", url, {"json": {"records": [{}] * 1_001}}, 413, "payload_too_large"),
        ("POST", "/v1/apps/nope/decisions", {"json": customer(1)}, 404, "not_found"),
        ("GET", "/v1/apps/nope/decisions", {}, 404, "not_found"),
        ("GET", url + "?limit=x", {}, 422, "input_invalid"),
        ("GET", "/v1/decisions/nope", {}, 404, "not_found"),
        ("POST", review, {"json": {"verdict": "approve", "reason": "x"}}, 409, "review_conflict"),
        ("POST", review, {"json": {"verdict": "approve"}}, 422, "input_invalid"),
        ("GET", "/no/such/route", {}, 404, "not_found"),
        ("DELETE", "/v1/apps", {}, 405, "method_not_allowed"),
        ("GET", "/v1/apps", {"headers": {"Authorization": ""}}, 401, "unauthenticated"),
        (
            "POST",
            url,
            {"json": customer(1), "headers": {"Authorization": f"Bearer {keys['viewer']}"}},
            403,
            "permission_denied",
        ),
    ]
    for method, path, kwargs, status, code in cases:
        problem = check_problem(await client.request(method, path, **kwargs), status, code)
        if code == "input_invalid":
            assert problem["errors"], (method, path)
    await client.post(url, json=customer(5), headers={"Idempotency-Key": "p"})
    conflict = await client.post(url, json=customer(6), headers={"Idempotency-Key": "p"})
    check_problem(conflict, 422, "idempotency_conflict")


class BrokenStore(FakeStore):
    def get_decision(self, decision_id: str) -> Any:
        raise RuntimeError("secret internals: password=hunter2")


async def test_unavailable_store_is_503_with_retry_after_and_bugs_are_bare_500s(
    registry: Registry,
) -> None:
    store = BrokenStore()
    _, secret = store.create_key("admin", "admin", actor="test")
    app = create_app(registry, as_store(store))
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    headers = {"Authorization": f"Bearer {secret}"}
    async with httpx.AsyncClient(transport=transport, base_url="http://t", headers=headers) as c:
        crashed = await c.get("/v1/decisions/x")
        problem = check_problem(crashed, 500, "internal_error")
        assert "hunter2" not in crashed.text and "RuntimeError" not in problem["detail"]
        store.available = False
        for response in (
            await c.post("/v1/apps/churn/decisions", json=customer(1)),
            await c.post("/v1/apps/churn/decisions", json={"records": [customer(1)]}),
            await c.get("/v1/apps/churn/decisions"),
            await c.get("/readyz"),
        ):
            check_problem(response, 503, "store_unavailable")
            assert response.headers["Retry-After"] == "1"
        store.available = True
        assert (await c.get("/readyz")).status_code == 200
    await app.state.service.close()


def test_statuses_come_from_the_one_table() -> None:
    assert set(STATUS_BY_ERROR.values()) == {401, 403, 404, 409, 413, 422, 503}
    assert status_of(DoorstepError("x")) == 500
