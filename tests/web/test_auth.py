"""Keys and roles: one role x route matrix over every route of the app; deny by default."""

from __future__ import annotations

import asyncio
import re
import threading
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute
from tests.web.conftest import ROLES, auth, customer

from doorstep.errors import StoreUnavailableError
from doorstep.services.apps.registry import Registry
from doorstep.services.governance.keys import change_key_role, revoke_key
from doorstep.store import open_store
from doorstep.store.protocols import DeliveryQuery, StoreContract
from doorstep.web import ServeSettings, create_app
from doorstep.web.auth import OPEN, ROUTE_ROLES, GuardedRoute, KeyGeneration
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
                url = path.format(
                    app="churn",
                    decision_id=decision["decision_id"],
                    key_id="x",
                    delivery_id="x",
                    verb="rollback",
                )
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
                version="2",
                stream="orders",
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


async def test_revocation_and_role_changes_bite_at_once_on_every_worker(
    registry: Registry, store: StoreContract, settings: ServeSettings
) -> None:
    """Two app instances, each with its own store on one database, stand for two worker
    processes: a key used on both, then revoked (or given another role), is refused by both on
    the very next request; no worker keeps trusting what it verified a moment ago."""
    other = open_store(store.url)
    workers = [create_app(registry, s, settings) for s in (store, other)]
    clients = [
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t")
        for app in workers
    ]
    revoked, revoked_secret = store.create_key("leaving", "viewer", actor="test")
    demoted, demoted_secret = store.create_key("demoted", "admin", actor="test")
    gone = {"Authorization": f"Bearer {revoked_secret}"}
    lesser = {"Authorization": f"Bearer {demoted_secret}"}
    try:
        for client in clients:  # verified (and trusted, were there a cache) on both workers
            assert (await client.get("/v1/apps", headers=gone)).status_code == 200
            assert (await client.get("/metrics", headers=lesser)).status_code == 200
        revoke_key(store, revoked.id, actor="test")
        change_key_role(store, demoted.id, "viewer", actor="test")
        for client in clients:
            refused = await client.get("/v1/apps", headers=gone)
            assert refused.status_code == 401 and refused.json()["code"] == "unauthenticated"
            assert (await client.get("/metrics", headers=lesser)).status_code == 403
            assert (await client.get("/v1/apps", headers=lesser)).status_code == 200
    finally:
        for client in clients:
            await client.aclose()
        for app in workers:
            await app.state.service.close()
        other.close()


async def test_the_key_generation_is_read_after_each_request_arrived_and_shared() -> None:
    """Where a read is a round trip (PostgreSQL), requests share reads, but never one that
    started before they arrived: that read may predate a revocation they must see."""
    value, reads, gate = [0], [0], threading.Event()

    def read() -> int:
        reads[0] += 1
        seen = value[0]
        gate.wait(5)  # the round trip, held open by the test
        return seen

    generation = KeyGeneration(read, inline=False)
    first = asyncio.ensure_future(generation.current())
    await asyncio.sleep(0.05)
    assert reads == [1]
    value[0] = 1  # a key is revoked while that read runs, and requests arrive
    late = [asyncio.ensure_future(generation.current()) for _ in range(20)]
    await asyncio.sleep(0.05)
    assert reads == [1]  # they wait for the running read to end...
    gate.set()
    assert await first == 0
    assert set(await asyncio.gather(*late)) == {1}  # ...and share the next one, read after
    assert reads == [2]  # twenty requests, one read

    def broken() -> int:
        raise StoreUnavailableError("down")

    failing = KeyGeneration(broken, inline=False)
    with pytest.raises(StoreUnavailableError):
        await failing.current()
    with pytest.raises(StoreUnavailableError):  # the next request reads again
        await failing.current()


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
