"""GET /v1/apps/{app}/decisions: filters and cursor pagination; GET /v1/apps."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import pytest
from tests.web.conftest import customer

pytestmark = pytest.mark.anyio
URL = "/v1/apps/churn/decisions"


async def test_pages_follow_the_cursor_and_the_link_header(client: httpx.AsyncClient) -> None:
    posted = await client.post(URL, json={"records": [customer(i) for i in range(25)]})
    ids = {d["decision_id"] for d in posted.json()["decisions"]}
    seen: list[str] = []
    url: str | None = URL + "?limit=10"
    pages = 0
    while url is not None:
        response = await client.get(url)
        assert response.status_code == 200
        body = response.json()
        seen += [item["decision_id"] for item in body["items"]]
        pages += 1
        if body["next_cursor"] is None:
            assert "Link" not in response.headers
            url = None
        else:
            link = response.headers["Link"]
            assert link.endswith('>; rel="next"') and body["next_cursor"] in link
            url = link[1 : link.index(">")]
    assert pages == 3 and set(seen) == ids and seen == sorted(seen, reverse=True)


async def test_filters(client: httpx.AsyncClient) -> None:
    await client.post(URL, json={"records": [customer(i) for i in range(60)]})
    one = (await client.get(URL, params={"entity_id": "C-7"})).json()["items"]
    assert [d["entity_id"] for d in one] == ["C-7"]
    for status in ("decided", "pending_review"):
        items = (await client.get(URL, params={"status": status})).json()["items"]
        assert items and {d["status"] for d in items} == {status}
    offers = (await client.get(URL, params={"action": "retention_offer"})).json()["items"]
    assert offers and {d["action"] for d in offers} == {"retention_offer"}
    future = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    assert (await client.get(URL, params={"since": future})).json()["items"] == []
    assert len((await client.get(URL, params={"until": future})).json()["items"]) == 60
    bad = await client.get(URL, params={"limit": 0})
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "limit"


async def test_apps_lists_owners_and_model_versions(client: httpx.AsyncClient) -> None:
    [app] = (await client.get("/v1/apps")).json()["apps"]
    assert app["name"] == "churn" and app["owner"] == "maria.lopez@example.com"
    assert app["model_version"] and app["model_hash"].startswith("sha256:")
    assert "retention_offer" in app["actions"]
