"""``GET /v1/apps/{app}/fairness`` over HTTP: groups of the churn example's sensitive region,
roles, problem details for an unknown attribute, and the region masked like pii."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime

import httpx
import pytest
from tests.web.conftest import auth, customer

pytestmark = pytest.mark.anyio


async def test_groups_by_region_with_outcomes(client: httpx.AsyncClient) -> None:
    records = [customer(i) for i in range(200)]
    answer = (await client.post("/v1/apps/churn/decisions", json={"records": records})).json()
    decisions = answer["decisions"]
    now = datetime.now(UTC).isoformat()
    outcomes = [
        {"decision_id": d["decision_id"], "churned": i % 3 == 0, "observed_at": now}
        for i, d in enumerate(decisions)
    ]
    assert (await client.post("/v1/apps/churn/outcomes", json={"outcomes": outcomes})).is_success
    response = await client.get("/v1/apps/churn/fairness", params={"by": "region"})
    assert response.status_code == 200, response.text
    found = response.json()
    assert found["decisions"] == 200 and found["labelled"] == 200 and found["outcomes"]
    (region,) = found["attributes"]
    assert region["attribute"] == "region" and region["min_group"] == 30
    expected = Counter(r["region"] for r in records)
    assert {g["group"]: g["decisions"] for g in region["groups"]} == expected
    acted = Counter(records[i]["region"] for i, d in enumerate(decisions) if d["action"] != "none")
    for group in region["groups"]:
        rate = group["selection"]["selected"]["value"]
        assert rate == pytest.approx(acted[group["group"]] / expected[group["group"]])
    assert region["demographic_parity_difference"]["selected"]["value"] is not None


async def test_viewers_read_it_clients_do_not(
    client: httpx.AsyncClient, keys: dict[str, str]
) -> None:
    url = "/v1/apps/churn/fairness"
    assert (await client.get(url, headers=auth(keys, "viewer"))).status_code == 200
    assert (await client.get(url, headers=auth(keys, "client"))).status_code == 403


async def test_an_unknown_attribute_is_a_problem(client: httpx.AsyncClient) -> None:
    response = await client.get("/v1/apps/churn/fairness", params={"by": "regoin"})
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    assert "did you mean 'region'" in response.json()["detail"]


async def test_a_sensitive_input_is_masked_like_pii(
    client: httpx.AsyncClient, keys: dict[str, str]
) -> None:
    decision = (await client.post("/v1/apps/churn/decisions", json=customer(1))).json()
    url = f"/v1/decisions/{decision['decision_id']}"
    for role, shown in (("viewer", "***"), ("reviewer", customer(1)["region"])):
        body = (await client.get(url, headers=auth(keys, role))).json()
        assert body["inputs"]["region"] == shown, role
