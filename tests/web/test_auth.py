"""Keys and roles: one role x route matrix over every route of the app; deny by default."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute
from tests.web.conftest import ROLES, auth, customer

from doorstep.services.apps.registry import Registry
from doorstep.store.protocols import DeliveryQuery, StoreContract
from doorstep.web import create_app
from doorstep.web.auth import OPEN, ROUTE_ROLES, GuardedRoute
from doorstep.web.pages.access import PageRoute

pytestmark = pytest.mark.anyio


def routes(app: FastAPI) -> Iterator[tuple[str, str, bool]]:
    for route in app.routes:
        methods = getattr(route, "methods", None) or set()
        for method in sorted(methods - {"HEAD"}):
            guarded = isinstance(route, APIRoute | GuardedRoute)
            yield method, getattr(route, "path", ""), guarded


def unlisted(app: FastAPI) -> list[tuple[str, str]]:
    return [(m, p) for m, p, _ in routes(app) if (m, p) not in ROUTE_ROLES]


def test_every_route_has_an_entry_in_the_table(registry: Registry, store: StoreContract) -> None:
    app = create_app(registry, store)
    assert not unlisted(app), "add these routes to doorstep.web.auth.ROUTE_ROLES"
    for method, path, is_api in routes(app):
        if not is_api:  # only API and guarded routes run the role check: others must be open
            assert ROUTE_ROLES[(method, path)] == OPEN, (method, path)


async def test_a_route_without_an_entry_is_found_and_denied(
    registry: Registry, store: StoreContract, keys: dict[str, str]
) -> None:
    app = create_app(registry, store)

    @app.get("/v1/secret")
    async def secret() -> dict[str, str]:
        return {"secret": "x"}

    assert unlisted(app) == [("GET", "/v1/secret")]
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        response = await client.get("/v1/secret", headers=auth(keys, "admin"))
    assert response.status_code == 403 and response.json()["code"] == "permission_denied"


async def page_session(client: httpx.AsyncClient, secret: str) -> str:
    """Sign ``client`` in to the pages with ``secret``; returns the session's CSRF token."""
    form = await client.get("/sign-in")
    token = re.search(r'name="csrf_token" value="([^"]+)"', form.text)
    assert token is not None
    answer = await client.post("/sign-in", data={"csrf_token": token.group(1), "key": secret})
    assert answer.status_code == 303, answer.text
    page = await client.get("/review")
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert csrf is not None, page.text
    return csrf.group(1)


async def test_role_route_matrix_of_the_pages(
    registry: Registry, store: StoreContract, keys: dict[str, str], client: httpx.AsyncClient
) -> None:
    """Pages authenticate by session cookie: every role signs in, then calls every page."""
    decision = (await client.post("/v1/apps/churn/decisions", json=customer(1))).json()
    app = create_app(registry, store)
    pages = [(m, p) for m, p, _ in routes(app) if isinstance(_route(app, m, p), PageRoute)]
    pages.sort(key=lambda page: page == ("POST", "/sign-out"))  # signing out ends the session
    assert len(pages) >= 15
    checked = 0
    transport = httpx.ASGITransport(app=app)
    for role in (*ROLES, None):
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as browser:
            csrf = ""
            if role not in (None, "client"):
                csrf = await page_session(browser, keys[role])
            for method, path in pages:
                rule = ROUTE_ROLES[(method, path)]
                url = path.format(app="churn", decision_id=decision["decision_id"], key_id="x")
                data = {"csrf_token": csrf} if method == "POST" else None
                response = await browser.request(method, url, data=data)
                if rule == OPEN:
                    assert response.status_code < 500, (method, path, role)
                elif role in (None, "client"):  # no session (a client key cannot sign in)
                    assert response.status_code == 303, (method, path, role)
                    assert response.headers["location"].startswith("/sign-in")
                elif role in rule:
                    assert response.status_code not in (401, 403), (method, path, role)
                else:
                    assert response.status_code == 403, (method, path, role)
                    assert "may not" in response.text
                checked += 1
    assert checked == 6 * len(pages)


def _route(app: FastAPI, method: str, path: str) -> object:
    for route in app.routes:
        if getattr(route, "path", None) == path and method in getattr(route, "methods", ()):
            return route
    raise AssertionError((method, path))


async def test_role_route_matrix(
    registry: Registry, store: StoreContract, keys: dict[str, str], client: httpx.AsyncClient
) -> None:
    decision = (await client.post("/v1/apps/churn/decisions", json=customer(1))).json()
    await client.post(
        "/v1/apps/churn/decisions", json={"records": [customer(i) for i in range(40)]}
    )
    [delivery] = store.list_deliveries(DeliveryQuery(app="churn", limit=1)).items
    app = create_app(registry, store)
    checked = 0
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as anyone:
        for method, path, _ in routes(app):
            if isinstance(_route(app, method, path), PageRoute):
                continue  # test_role_route_matrix_of_the_pages
            rule = ROUTE_ROLES[(method, path)]
            url = path.format(
                app="churn",
                decision_id=decision["decision_id"],
                delivery_id=delivery.id,
                connector=delivery.connector,
                run_id="0193f7c2-0000-7000-8000-000000000000",
            )
            body = {"verdict": "approve", "reason": "x"} if "review" in path else customer(2)
            for role in (*ROLES, None):
                headers = {} if role is None else auth(keys, role)
                kwargs: dict[str, Any] = {"json": body} if method == "POST" else {}
                response = await anyone.request(method, url, headers=headers, **kwargs)
                if rule == OPEN or (role is not None and role in rule):
                    assert response.status_code not in (401, 403), (method, path, role)
                elif role is None:
                    assert response.status_code == 401, (method, path)
                    assert response.headers["WWW-Authenticate"].startswith("Bearer")
                else:
                    assert response.status_code == 403, (method, path, role)
                    assert response.json()["code"] == "permission_denied"
                checked += 1
    assert checked >= 6 * len([r for r in ROUTE_ROLES if not _is_page(r[1])]) - 6


async def test_unknown_and_revoked_keys_are_refused(
    client: httpx.AsyncClient, store: StoreContract
) -> None:
    bad = await client.get("/v1/apps", headers={"Authorization": "Bearer dsk_nope"})
    assert bad.status_code == 401 and bad.json()["code"] == "unauthenticated"
    assert (await client.get("/v1/apps", headers={"Authorization": "Basic x"})).status_code == 401
    key, secret = store.create_key("short-lived", "viewer", actor="test")
    store.revoke_key(key.id, actor="test")
    revoked = await client.get("/v1/apps", headers={"Authorization": f"Bearer {secret}"})
    assert revoked.status_code == 401


async def test_pii_inputs_are_masked_for_roles_without_need(
    client: httpx.AsyncClient, keys: dict[str, str]
) -> None:
    decision = (await client.post("/v1/apps/churn/decisions", json=customer(1))).json()
    url = f"/v1/decisions/{decision['decision_id']}"
    for role, shown in (("viewer", "***"), ("client", "***"), ("reviewer", "c1@example.com")):
        body = (await client.get(url, headers=auth(keys, role))).json()
        assert body["inputs"]["email"] == shown, role
        assert body["inputs"]["tenure_months"] == customer(1)["tenure_months"]


def _is_page(path: str) -> bool:
    api = ("/v1/", "/healthz", "/readyz", "/metrics", "/docs", "/redoc", "/openapi")
    return not path.startswith(api)
