"""The dispatcher inside the server: a decision's action arrives at its connector without any
other process, and ``--no-deliver`` leaves the outbox to ``doorstep worker``."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path

import anyio
import httpx
import pytest
from tests.web.conftest import customer

from doorstep.services.apps.registry import load_registry
from doorstep.store.protocols import DeliveryQuery, StoreContract
from doorstep.web import ServeSettings, create_app

pytestmark = pytest.mark.anyio


async def _decide_until(client: httpx.AsyncClient, action: str) -> dict[str, object]:
    for number in range(1, 500):
        record = customer(number, plan="premium", support_tickets_30d=9, tenure_months=2)
        body = (await client.post("/v1/apps/churn/decisions", json=record)).json()
        if body["action"] == action and body["status"] == "decided":
            return dict(body)
    raise AssertionError(f"no customer got {action!r}")


async def _wait_for(condition: Callable[[], bool], seconds: float = 10.0) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return
        await anyio.sleep(0.05)
    raise AssertionError(f"not true within {seconds} s")


@pytest.mark.parametrize("deliver", [True, False])
async def test_serve_sends_deliveries_itself_unless_told_not_to(
    churn_app: Path, store: StoreContract, keys: dict[str, str], deliver: bool
) -> None:
    registry = load_registry([churn_app / "doorstep.yaml"])
    app = create_app(registry, store, ServeSettings(deliver=deliver, public_url="http://t"))
    transport = httpx.ASGITransport(app=app)
    headers = {"Authorization": f"Bearer {keys['client']}"}
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=transport, base_url="http://t", headers=headers) as client,
    ):
        decision = await _decide_until(client, "call_customer")
        callbacks = churn_app / "callbacks.jsonl"

        def delivered() -> bool:
            page = store.list_deliveries(DeliveryQuery(decision_id=str(decision["decision_id"])))
            return bool(page.items) and page.items[0].state == "delivered"

        if deliver:
            await _wait_for(delivered)
            lines = [json.loads(line) for line in callbacks.read_text().splitlines()]
            assert [line["_decision_id"] for line in lines] == [decision["decision_id"]]
            assert lines[0]["customer"] == decision["entity_id"]
        else:
            await anyio.sleep(0.5)
            page = store.list_deliveries(DeliveryQuery(decision_id=str(decision["decision_id"])))
            assert [d.state for d in page.items] == ["pending"]
            assert not callbacks.exists()
