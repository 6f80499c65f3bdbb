"""The outbox over HTTP: /v1/apps/{app}/deliveries, /v1/deliveries/{id} (retry, cancel),
connectors, delivery counts, and each decision's deliveries; on SQLite and PostgreSQL."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from tests.web.conftest import auth, customer

from doorstep.examples.churn.crm import CrmStandIn
from doorstep.services.apps.loading import read_spec
from doorstep.services.apps.registry import Registry
from doorstep.services.deliver.connectors import SpecFile, open_app_connectors
from doorstep.services.deliver.dispatcher import AttemptReport, Dispatcher
from doorstep.store.protocols import StoreContract

pytestmark = pytest.mark.anyio
DECISIONS = "/v1/apps/churn/decisions"
DELIVERIES = "/v1/apps/churn/deliveries"
CONNECTORS = {"retention_offer": "crm", "call_customer": "callbacks"}
KEYS = {
    "delivery_id",
    "decision_id",
    "app",
    "action",
    "connector",
    "key",
    "state",
    "attempts",
    "next_attempt_at",
    "lease_expires_at",
    "last_status",
    "last_detail",
    "created_at",
    "updated_at",
    "delivered_at",
}


RISKY = {
    "plan": "premium",
    "contract": "monthly",
    "tenure_months": 1,
    "support_tickets_30d": 12,
    "late_payments_12m": 6,
    "logins_30d": 0,
    "days_since_last_login": 29,
    "monthly_spend": 99.0,
    "autopay": False,
}
"""A premium customer at high risk: ``call_customer``, through the file connector."""


async def decide(client: httpx.AsyncClient, count: int = 300) -> list[dict[str, Any]]:
    """Decisions of ``count`` customers and 8 risky premium ones: some of each action and status
    of the churn app."""
    records = [customer(i) for i in range(count)] + [customer(1000 + i, **RISKY) for i in range(8)]
    response = await client.post(DECISIONS, json={"records": records})
    assert response.status_code == 200, response.text
    decisions: list[dict[str, Any]] = response.json()["decisions"]
    actions = {(d["action"], d["status"]) for d in decisions}
    for wanted in (
        ("retention_offer", "decided"),
        ("call_customer", "decided"),
        ("retention_offer", "pending_review"),
        ("none", "decided"),
    ):
        assert wanted in actions, wanted
    assert any(d["status"] == "held_out" and d["action"] != "none" for d in decisions)
    return decisions


async def every_delivery(client: httpx.AsyncClient, url: str) -> list[dict[str, Any]]:
    """Every page of a listing, following the ``Link`` header."""
    items: list[dict[str, Any]] = []
    next_url: str | None = url
    while next_url is not None:
        response = await client.get(next_url)
        assert response.status_code == 200, response.text
        body = response.json()
        items += body["items"]
        link = response.headers.get("Link")
        assert (link is None) == (body["next_cursor"] is None)
        next_url = link[1 : link.index(">")] if link else None
    return items


OTHER_SECRET = "whsec_" + base64.b64encode(b"a CRM expecting another key 32b!").decode()


def dispatch(
    registry: Registry, store: StoreContract, root: Path, crm: CrmStandIn
) -> list[AttemptReport]:
    """What a worker does: send every due delivery, the ``crm`` webhook to the stand-in CRM, the
    ``callbacks`` file connector's lines under ``root``."""
    env = {"CRM_WEBHOOK_URL": crm.url}
    apps = [
        open_app_connectors(SpecFile(read_spec(Path(app.doc.file), env), root)) for app in registry
    ]
    with Dispatcher(store, apps, concurrency=4) as dispatcher:
        return dispatcher.drain()


async def test_each_acted_decision_gets_one_delivery_in_the_outbox(
    client: httpx.AsyncClient,
) -> None:
    decisions = await decide(client)
    by_decision = {d["decision_id"]: d for d in await every_delivery(client, DELIVERIES)}
    for decision in decisions:
        delivery = by_decision.pop(decision["decision_id"], None)
        if decision["action"] == "none" or decision["status"] == "held_out":
            assert delivery is None, decision
            continue
        assert delivery is not None, decision
        assert set(delivery) == KEYS
        assert delivery["action"] == decision["action"] and delivery["app"] == "churn"
        assert delivery["connector"] == CONNECTORS[decision["action"]]
        assert delivery["key"] == f"{decision['decision_id']}:{decision['action']}"
        assert delivery["attempts"] == 0 and delivery["delivered_at"] is None
        if decision["status"] == "pending_review":
            assert delivery["state"] == "held" and delivery["next_attempt_at"] is None
        else:
            assert delivery["state"] == "pending" and delivery["next_attempt_at"]
    assert not by_decision


async def test_a_decision_read_alone_shows_its_deliveries_and_lists_do_not(
    client: httpx.AsyncClient,
) -> None:
    decisions = await decide(client)
    held = next(d for d in decisions if d["status"] == "pending_review")
    control = next(d for d in decisions if d["status"] == "held_out")
    read = (await client.get(f"/v1/decisions/{held['decision_id']}")).json()
    [delivery] = read["deliveries"]
    assert set(delivery) == {
        "delivery_id",
        "action",
        "connector",
        "state",
        "attempts",
        "last_detail",
    }
    assert delivery["state"] == "held" and delivery["connector"] == "crm"
    assert (await client.get(f"/v1/decisions/{control['decision_id']}")).json()["deliveries"] == []
    listed = (await client.get(DECISIONS, params={"limit": 5})).json()["items"]
    assert listed and all("deliveries" not in d for d in listed)


async def test_deliveries_move_and_operators_retry_and_cancel_them(
    client: httpx.AsyncClient,
    registry: Registry,
    store: StoreContract,
    keys: dict[str, str],
    tmp_path: Path,
) -> None:
    decisions = await decide(client)
    with CrmStandIn(tmp_path / "crm-inbox.jsonl", port=0, secret=OTHER_SECRET) as crm:
        reports = dispatch(registry, store, tmp_path, crm)  # the CRM refuses our signatures
    calls = [d for d in decisions if d["action"] == "call_customer" and d["status"] == "decided"]
    offers = [d for d in decisions if d["action"] == "retention_offer" and d["status"] == "decided"]
    assert len(reports) == len(calls) + len(offers)

    # the callbacks file got one line per call; the CRM answered 401 to every offer
    lines = [json.loads(line) for line in (tmp_path / "callbacks.jsonl").read_text().splitlines()]
    assert sorted(line["_delivery"] for line in lines) == sorted(
        f"{d['decision_id']}:call_customer" for d in calls
    )
    delivered = await every_delivery(client, DELIVERIES + "?state=delivered&limit=7")
    assert {d["connector"] for d in delivered} == {"callbacks"} and len(delivered) == len(calls)
    assert all(d["delivered_at"] and d["attempts"] == 1 for d in delivered)
    dead = await every_delivery(client, DELIVERIES + "?state=dead&connector=crm")
    assert len(dead) == len(offers)
    assert all(d["last_status"] == 401 and "401" in d["last_detail"] for d in dead), dead[0]
    assert not (tmp_path / "crm-inbox.jsonl").exists()

    one = (await client.get(f"/v1/deliveries/{dead[0]['delivery_id']}")).json()
    assert set(one) == KEYS | {"history"}
    [attempt] = one["history"]
    assert attempt["number"] == 1 and attempt["outcome"] == "failed"
    assert attempt["worker"] and attempt["started_at"] and attempt["finished_at"]
    assert attempt["detail"] == one["last_detail"]

    # retry a dead one: pending again, from a fresh cycle (the history is kept)
    retry = f"/v1/deliveries/{dead[0]['delivery_id']}/retry"
    refused = await client.post(retry, headers=auth(keys, "viewer"))
    assert refused.status_code == 403 and refused.json()["code"] == "permission_denied"
    retried = await client.post(retry, json={"reason": "the CRM is back"})
    assert retried.status_code == 200, retried.text
    body = retried.json()
    assert body["state"] == "pending" and body["attempts"] == 0 and len(body["history"]) == 1
    again = await client.post(retry, headers=auth(keys, "owner"))
    assert again.status_code == 409 and again.json()["code"] == "conflict"
    assert "pending" in again.json()["detail"]

    # cancel: the retried one, a held one and a dead one (without a body); not a delivered one
    cancel = f"/v1/deliveries/{dead[0]['delivery_id']}/cancel"
    cancelled = await client.post(cancel)
    assert cancelled.status_code == 200 and cancelled.json()["state"] == "cancelled"
    assert cancelled.json()["next_attempt_at"] is None
    [held] = (await client.get(DELIVERIES, params={"state": "held", "limit": 1})).json()["items"]
    response = await client.post(f"/v1/deliveries/{held['delivery_id']}/cancel", json={})
    assert response.json()["state"] == "cancelled"
    if len(dead) > 1:
        response = await client.post(f"/v1/deliveries/{dead[1]['delivery_id']}/cancel")
        assert response.json()["state"] == "cancelled"
    for verb in ("retry", "cancel"):
        conflict = await client.post(f"/v1/deliveries/{delivered[0]['delivery_id']}/{verb}")
        assert conflict.status_code == 409 and conflict.json()["code"] == "conflict"
        assert "is delivered" in conflict.json()["detail"]

    # the retried-then-cancelled one can be retried again; now the CRM takes it
    assert (await client.post(retry)).json()["state"] == "pending"
    with CrmStandIn(tmp_path / "crm-inbox.jsonl", port=0) as crm:
        [report] = dispatch(registry, store, tmp_path, crm)
    assert report.delivery_id == dead[0]["delivery_id"] and report.state == "delivered"
    [line] = (tmp_path / "crm-inbox.jsonl").read_text().splitlines()
    assert json.loads(line)["webhook_id"] == dead[0]["key"]
    final = (await client.get(f"/v1/deliveries/{report.delivery_id}")).json()
    assert final["state"] == "delivered" and final["last_status"] == 204
    assert [a["outcome"] for a in final["history"]] == ["failed", "delivered"]
    assert store.verify_audit().ok


async def test_the_reason_of_a_retry_or_a_cancel_is_recorded(
    client: httpx.AsyncClient, store: StoreContract
) -> None:
    await decide(client)
    [item] = (await client.get(DELIVERIES, params={"state": "pending", "limit": 1})).json()["items"]
    url = f"/v1/deliveries/{item['delivery_id']}"
    cancelled = await client.post(f"{url}/cancel", json={"reason": "customer left"})
    assert cancelled.json()["last_detail"].endswith(": customer left")
    await client.post(f"{url}/retry", json={"reason": "  customer\ncame back "})
    await client.post(f"{url}/cancel")  # no body: no reason
    events = [
        (e.kind, e.payload.get("reason"))
        for e in store.decision_audit(item["decision_id"])
        if e.kind.startswith("deliveries.")
    ]
    assert events == [
        ("deliveries.cancelled", "customer left"),
        ("deliveries.retried", "customer came back"),
        ("deliveries.cancelled", None),
    ]
    assert store.verify_audit().ok


async def test_a_delivery_being_sent_cannot_be_cancelled(
    client: httpx.AsyncClient, store: StoreContract
) -> None:
    await decide(client)
    [claimed] = store.claim_deliveries("test-worker", 1, 60.0)
    read = (await client.get(f"/v1/deliveries/{claimed.id}")).json()
    assert read["state"] == "sending" and read["lease_expires_at"]
    assert read["next_attempt_at"] is None
    response = await client.post(f"/v1/deliveries/{claimed.id}/cancel")
    assert response.status_code == 409 and "is sending" in response.json()["detail"]
    assert response.headers["content-type"] == "application/problem+json"


async def test_unknown_deliveries_apps_connectors_and_filters(client: httpx.AsyncClient) -> None:
    for method, url in (
        ("GET", "/v1/deliveries/nope"),
        ("POST", "/v1/deliveries/nope/retry"),
        ("POST", "/v1/deliveries/nope/cancel"),
    ):
        response = await client.request(method, url)
        assert response.status_code == 404 and response.json()["code"] == "not_found", url
        assert "'nope'" in response.json()["detail"]
    unknown_app = await client.get("/v1/apps/chrun/deliveries")
    assert unknown_app.status_code == 404
    assert "did you mean 'churn'" in unknown_app.json()["detail"]
    bad_state = await client.get(DELIVERIES, params={"state": "lost"})
    assert bad_state.status_code == 422 and bad_state.json()["code"] == "input_invalid"
    assert [e["field"] for e in bad_state.json()["errors"]] == ["state"]
    bad_limit = await client.get(DELIVERIES, params={"limit": 1_001})
    assert bad_limit.status_code == 422
    long_reason = await client.post("/v1/deliveries/nope/retry", json={"reason": "x" * 2_001})
    assert long_reason.status_code == 422


async def test_filters_and_pages(client: httpx.AsyncClient) -> None:
    decisions = await decide(client)
    everything = await every_delivery(client, DELIVERIES + "?limit=9")
    ids = [d["delivery_id"] for d in everything]
    assert len(ids) == len(set(ids)) > 9
    assert [d["created_at"] for d in everything] == sorted(
        (d["created_at"] for d in everything), reverse=True
    )
    callbacks = await every_delivery(client, DELIVERIES + "?connector=callbacks")
    assert callbacks and {d["action"] for d in callbacks} == {"call_customer"}
    acted = next(d for d in decisions if d["action"] != "none" and d["status"] == "decided")
    mine = (await client.get(DELIVERIES, params={"decision_id": acted["decision_id"]})).json()
    assert [d["decision_id"] for d in mine["items"]] == [acted["decision_id"]]
    assert mine["next_cursor"] is None


async def test_counts_and_enabling_a_connector_disabled_by_410(
    client: httpx.AsyncClient, store: StoreContract, keys: dict[str, str]
) -> None:
    decisions = await decide(client)
    store.disable_connector("churn", "crm", "HTTP 410 Gone", actor="dispatcher")
    counts = (await client.get("/v1/apps/churn/delivery-counts")).json()
    assert counts["app"] == "churn"
    assert set(counts["counts"]) == {"held", "pending", "sending", "delivered", "dead", "cancelled"}
    acted = [d for d in decisions if d["action"] != "none" and d["status"] != "held_out"]
    assert sum(counts["counts"].values()) == len(acted)
    held = sum(d["status"] == "pending_review" for d in acted)
    assert counts["counts"]["held"] == held and counts["counts"]["pending"] == len(acted) - held
    [disabled] = counts["disabled_connectors"]
    assert disabled["connector"] == "crm" and disabled["detail"] == "HTTP 410 Gone"

    url = "/v1/apps/churn/connectors/crm/enable"
    refused = await client.post(url, headers=auth(keys, "reviewer"))
    assert refused.status_code == 403
    enabled = await client.post(url, headers=auth(keys, "owner"))
    assert enabled.json() == {"app": "churn", "connector": "crm", "enabled": True, "changed": True}
    assert (await client.post(url)).json()["changed"] is False
    after = await client.get("/v1/apps/churn/delivery-counts", headers=auth(keys, "viewer"))
    assert after.json()["disabled_connectors"] == []
    typo = await client.post("/v1/apps/churn/connectors/crn/enable")
    assert typo.status_code == 404 and "did you mean 'crm'" in typo.json()["detail"]
    assert (await client.post("/v1/apps/nope/connectors/crm/enable")).status_code == 404
    assert (await client.get("/v1/apps/nope/delivery-counts")).status_code == 404


async def test_every_role_reads_the_outbox(client: httpx.AsyncClient, keys: dict[str, str]) -> None:
    await decide(client, 60)
    [first] = (await client.get(DELIVERIES, params={"limit": 1})).json()["items"]
    for role in ("owner", "reviewer", "viewer", "client"):
        headers = auth(keys, role)
        assert (await client.get(DELIVERIES, headers=headers)).status_code == 200, role
        one = await client.get(f"/v1/deliveries/{first['delivery_id']}", headers=headers)
        assert one.status_code == 200, role


async def test_the_routes_are_described_in_openapi(client: httpx.AsyncClient) -> None:
    paths = (await client.get("/openapi.json")).json()["paths"]
    retry = paths["/v1/deliveries/{delivery_id}/retry"]["post"]
    assert retry["responses"]["200"]["content"]["application/json"]["schema"]["$ref"].endswith(
        "/DeliveryOut"
    )
    assert "409" in retry["responses"] and "requestBody" in retry
    listing = paths["/v1/apps/{app}/deliveries"]["get"]
    assert {p["name"] for p in listing["parameters"]} == {
        "app",
        "state",
        "connector",
        "decision_id",
        "cursor",
        "limit",
    }
