"""POST /v1/decisions/{id}/review and reading decisions back."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
from tests.web.conftest import auth, customer

from doorstep.services.apps.registry import load_registry
from doorstep.store.protocols import StoreContract
from doorstep.web import ServeSettings, create_app

pytestmark = pytest.mark.anyio


async def decisions(client: httpx.AsyncClient, status: str) -> list[dict[str, Any]]:
    records = [customer(i) for i in range(1, 300)]
    body = (await client.post("/v1/apps/churn/decisions", json={"records": records})).json()
    found = [d for d in body["decisions"] if d["status"] == status]
    assert found, f"no {status} decision among the test customers"
    return found


async def test_approve_and_override(client: httpx.AsyncClient, keys: dict[str, str]) -> None:
    pending = await decisions(client, "pending_review")
    first, second = pending[0]["decision_id"], pending[1]["decision_id"]
    reviewer = auth(keys, "reviewer")
    approved = await client.post(
        f"/v1/decisions/{first}/review",
        json={"verdict": "approve", "reason": "customer called us"},
        headers=reviewer,
    )
    assert approved.status_code == 200, approved.text
    assert approved.json()["status"] == "approved"
    overridden = await client.post(
        f"/v1/decisions/{second}/review",
        json={"verdict": "override", "action": "none", "reason": "already on a discount"},
        headers=reviewer,
    )
    assert overridden.status_code == 200
    assert overridden.json()["final_action"] == "none"
    read = await client.get(f"/v1/decisions/{second}")
    assert read.json()["status"] == "overridden"


async def test_a_second_verdict_is_a_conflict(client: httpx.AsyncClient) -> None:
    decision = (await decisions(client, "pending_review"))[0]["decision_id"]
    url = f"/v1/decisions/{decision}/review"
    first = await client.post(url, json={"verdict": "override", "action": "none", "reason": "ok"})
    assert first.status_code == 200
    again = await client.post(url, json={"verdict": "approve", "reason": "looks right"})
    assert again.status_code == 409 and again.json()["code"] == "review_conflict"
    detail = again.json()["detail"]  # who decided, when, how and why: the next step is clear
    stored = (await client.get(f"/v1/decisions/{decision}")).json()
    assert stored["status"] == "overridden" and stored["final_action"] == "none"
    assert f"({stored['app']} {stored['entity_id']}) was already overridden (none) by " in detail
    assert "with the reason: 'ok'" in detail and "Go on with the next case" in detail


async def test_only_pending_decisions_take_a_verdict(client: httpx.AsyncClient) -> None:
    decided = (await decisions(client, "decided"))[0]["decision_id"]
    response = await client.post(
        f"/v1/decisions/{decided}/review", json={"verdict": "approve", "reason": "fine"}
    )
    assert response.status_code == 409 and response.json()["code"] == "review_conflict"


async def test_bad_verdicts_are_422(client: httpx.AsyncClient) -> None:
    decision = (await decisions(client, "pending_review"))[0]["decision_id"]
    url = f"/v1/decisions/{decision}/review"
    unknown = await client.post(
        url, json={"verdict": "override", "action": "retention_ofer", "reason": "x"}
    )
    assert unknown.status_code == 422
    assert "did you mean 'retention_offer'" in unknown.json()["detail"]
    assert unknown.json()["errors"][0]["field"] == "action"
    for body in (
        {"verdict": "approve"},
        {"verdict": "approve", "reason": ""},
        {"verdict": "approve", "reason": "   "},
        {"verdict": "maybe", "reason": "x"},
        {"verdict": "override", "reason": "x"},
    ):
        response = await client.post(url, json=body)
        assert response.status_code == 422, body
        assert response.json()["code"] == "input_invalid"
    assert (await client.get(f"/v1/decisions/{decision}")).json()["status"] == "pending_review"


async def test_unknown_decisions_are_404(client: httpx.AsyncClient) -> None:
    for response in (
        await client.get("/v1/decisions/nope"),
        await client.post("/v1/decisions/nope/review", json={"verdict": "approve", "reason": "x"}),
    ):
        assert response.status_code == 404 and response.json()["code"] == "not_found"


async def test_a_verdict_is_undone_within_its_window(
    client: httpx.AsyncClient, keys: dict[str, str]
) -> None:
    decision = (await decisions(client, "pending_review"))[0]["decision_id"]
    reviewer = auth(keys, "reviewer")
    body = {"verdict": "approve", "reason": "customer called us"}
    given = await client.post(f"/v1/decisions/{decision}/review", json=body, headers=reviewer)
    assert given.status_code == 200
    undo = f"/v1/decisions/{decision}/review/undo"
    for role in ("viewer", "client"):  # roles as for verdicts
        refused = await client.post(undo, headers=auth(keys, role))
        assert refused.status_code == 403 and refused.json()["code"] == "permission_denied"
    undone = await client.post(undo, headers=reviewer)
    assert undone.status_code == 200, undone.text
    assert (undone.json()["status"], undone.json()["final_action"]) == ("pending_review", None)
    read = (await client.get(f"/v1/decisions/{decision}")).json()
    assert read["status"] == "pending_review"
    assert [d["state"] for d in read["deliveries"]] in ([], ["held"])
    again = await client.post(undo, headers=reviewer)  # nothing left to undo
    assert again.status_code == 409 and again.json()["code"] == "review_conflict"
    assert again.headers["content-type"] == "application/problem+json"
    assert (await client.post("/v1/decisions/nope/review/undo")).status_code == 404


async def test_an_undo_after_the_window_is_409(
    churn_app: Path, store: StoreContract, keys: dict[str, str], settings: ServeSettings
) -> None:
    spec = churn_app / "doorstep.yaml"
    text = spec.read_text()
    spec.write_text(text.replace("review_undo_seconds: 15 ", "review_undo_seconds: 0.3 "))
    app = create_app(load_registry([spec]), store, settings)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(
        transport=transport, base_url="http://testserver", headers=auth(keys, "admin")
    ) as short:
        decision = (await decisions(short, "pending_review"))[0]["decision_id"]
        body = {"verdict": "override", "action": "none", "reason": "on a discount already"}
        assert (await short.post(f"/v1/decisions/{decision}/review", json=body)).status_code == 200
        await anyio.sleep(0.4)
        late = await short.post(f"/v1/decisions/{decision}/review/undo")
        assert late.status_code == 409 and late.json()["code"] == "review_conflict"
        assert "undo window closed at" in late.json()["detail"]
        assert (await short.get(f"/v1/decisions/{decision}")).json()["status"] == "overridden"
    await app.state.service.close()
