"""Backtest and compare over HTTP: shapes, problem details, roles."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx
import pytest
from tests.web.conftest import auth, customer

from doorstep.services.apps.registry import Registry
from doorstep.store.protocols import StoreContract
from doorstep.store.shadow_records import ShadowDecision

pytestmark = pytest.mark.anyio


async def decide(client: httpx.AsyncClient, count: int) -> list[dict[str, object]]:
    body = {"records": [customer(i) for i in range(count)]}
    response = await client.post("/v1/apps/churn/decisions", json=body)
    assert response.status_code == 200, response.text
    decisions: list[dict[str, object]] = response.json()["decisions"]
    return decisions


async def test_backtest_of_the_served_model_flips_nothing(
    client: httpx.AsyncClient, registry: Registry
) -> None:
    await decide(client, 12)
    model = registry.get("churn").spec.model.path
    response = await client.post(
        "/v1/apps/churn/models/backtest", json={"model": model, "version": "again", "days": 1}
    )
    assert response.status_code == 200, response.text
    found = response.json()
    assert found["decisions"] == 12 and found["flips"] == 0
    assert found["candidate_version"] == "again"
    assert sum(t["decisions"] for t in found["transitions"]) == 12


async def test_backtest_refuses_a_model_outside_the_app_folder(
    client: httpx.AsyncClient, keys: dict[str, str]
) -> None:
    body = {"model": "../../etc/passwd", "version": "2"}
    response = await client.post("/v1/apps/churn/models/backtest", json=body)
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    assert "inside the app's folder" in response.json()["detail"]
    both = {"model": "model.lgb.txt", "version": "2", "days": 3, "since": "2025-01-01T00:00:00Z"}
    response = await client.post("/v1/apps/churn/models/backtest", json=both)
    assert response.status_code == 422 and "not both" in response.json()["detail"]
    viewer = await client.post(
        "/v1/apps/churn/models/backtest", json=body, headers=auth(keys, "viewer")
    )
    assert viewer.status_code == 403


async def test_compare_a_shadow_over_http(
    client: httpx.AsyncClient, store: StoreContract, keys: dict[str, str]
) -> None:
    decisions = await decide(client, 8)
    now = datetime.now(UTC)
    rows = [
        ShadowDecision(
            decision_id=str(d["decision_id"]),
            app="churn",
            entity_id=str(d["entity_id"]),
            model_version="2",
            model_hash="cd" * 32,
            score=0.5,
            action="none",
            rule=None,
            review=False,
            control=False,
            reasons=None,
            created_at=now,
        )  # fmt: skip
        for d in decisions
    ]
    store.record_shadow(rows)
    response = await client.get(
        "/v1/apps/churn/models/compare", params={"window": "day"}, headers=auth(keys, "viewer")
    )
    assert response.status_code == 200, response.text
    found = response.json()
    assert found["mode"] == "shadow" and found["challenger"]["version"] == "2"
    assert found["challenger"]["decisions"] == 8
    assert found["verdict"].startswith("Not enough outcomes yet")
    missing = await client.get("/v1/apps/churn/models/compare", params={"challenger": "9"})
    assert missing.status_code == 404 and "'9'" in missing.json()["detail"]
    client_key = await client.get("/v1/apps/churn/models/compare", headers=auth(keys, "client"))
    assert client_key.status_code == 403
