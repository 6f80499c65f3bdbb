"""/metrics: latency by route, decisions by action, rejects, review backlog, deliveries by
state; one registry per app instance."""

from __future__ import annotations

import httpx
import pytest
from tests.web.conftest import customer

from doorstep.services.registry import Registry
from doorstep.store.contract import StoreContract
from doorstep.web import create_app

pytestmark = pytest.mark.anyio


def value(text: str, prefix: str) -> float:
    return sum(
        float(line.rsplit(" ", 1)[1]) for line in text.splitlines() if line.startswith(prefix)
    )


async def test_metrics_count_what_happened(client: httpx.AsyncClient) -> None:
    records = [customer(i) for i in range(200)] + [customer(1, plan="gold")]
    body = (await client.post("/v1/apps/churn/decisions", json={"records": records})).json()
    pending = sum(d["status"] == "pending_review" for d in body["decisions"])
    response = await client.get("/metrics")
    assert response.status_code == 200
    text = response.text
    assert value(text, 'doorstep_decisions_total{action="none",app="churn"}') > 0
    assert value(text, "doorstep_decisions_total{") == 200
    assert value(text, 'doorstep_rejects_total{app="churn"}') == 1
    assert value(text, 'doorstep_review_backlog{app="churn"}') == pending > 0
    acted = sum(
        d["action"] != "none" and d["status"] == "decided" for d in body["decisions"]
    )  # every action of the churn app has a connector
    assert value(text, 'doorstep_deliveries{app="churn",state="held"}') == pending
    assert value(text, 'doorstep_deliveries{app="churn",state="pending"}') == acted > 0
    assert 'doorstep_deliveries{app="churn",state="dead"} 0.0' in text
    route = 'route="/v1/apps/{app}/decisions"'
    assert any(
        line.startswith("doorstep_http_request_duration_seconds_count")
        and route in line
        and 'status="200"' in line
        for line in text.splitlines()
    )


def test_two_instances_do_not_share_metrics(registry: Registry, store: StoreContract) -> None:
    first, second = create_app(registry, store), create_app(registry, store)
    assert first.state.service.metrics.registry is not second.state.service.metrics.registry
