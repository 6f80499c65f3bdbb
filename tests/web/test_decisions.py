"""POST /v1/apps/{app}/decisions: one record, batches per record, limits, explanations."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from tests.web.conftest import customer

from doorstep.store.protocols import DecisionQuery, StoreContract
from doorstep.web import ServeSettings

pytestmark = pytest.mark.anyio
URL = "/v1/apps/churn/decisions"


async def test_one_record_is_decided_and_recorded_before_the_answer(
    client: httpx.AsyncClient, store: StoreContract
) -> None:
    response = await client.post(URL, json=customer(1))
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {
        "decision_id",
        "entity_id",
        "score",
        "action",
        "status",
        "reasons",
        "model_version",
        "lineage",  # the churn app has feature sources: every input came with the request
    }
    assert body["lineage"] == {"request": list(customer(1))[1:], "sources": {}}
    assert body["entity_id"] == "C-1" and 0 <= body["score"] <= 1
    assert body["status"] in ("decided", "pending_review", "held_out")
    stored = store.get_decision(body["decision_id"])
    assert stored is not None and stored.score == body["score"]
    assert stored.inputs["tenure_months"] == customer(1)["tenure_months"]


async def test_a_batch_is_decided_per_record_never_all_or_nothing(
    client: httpx.AsyncClient, store: StoreContract
) -> None:
    records: list[object] = [customer(i) for i in range(1, 6)]
    records[1] = customer(2, tenure_months=-3)
    records[3] = "not a record"
    response = await client.post(URL, json={"records": records})
    assert response.status_code == 200
    body = response.json()
    assert [d["entity_id"] for d in body["decisions"]] == ["C-1", "C-3", "C-5"]
    assert body["errors"] == [
        {
            "record": 1,
            "entity_id": "C-2",
            "field": "tenure_months",
            "rule": "min",
            "message": "tenure_months must be >= 0, got -3",
        },
        {
            "record": 3,
            "entity_id": None,
            "field": None,
            "rule": "type",
            "message": "record 3 must be a JSON object, got str",
        },
    ]
    for decision in body["decisions"]:
        assert store.get_decision(decision["decision_id"]) is not None


async def test_a_bad_single_record_is_a_422_problem_naming_field_and_rule(
    client: httpx.AsyncClient,
) -> None:
    response = await client.post(URL, json=customer(1, plan="premum", customer_id="C-9"))
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["code"] == "input_invalid"
    [error] = problem["errors"]
    assert error["record"] == 0 and error["entity_id"] == "C-9"
    assert (error["field"], error["rule"]) == ("plan", "allowed_values")
    assert "did you mean 'premium'" in error["message"]


async def test_explain_on_demand_gives_every_decision_reasons(client: httpx.AsyncClient) -> None:
    records = [customer(i) for i in range(1, 21)]
    plain = (await client.post(URL, json={"records": records})).json()["decisions"]
    assert any(d["reasons"] == [] for d in plain), "explain.for is [acted, review]"
    explained = (await client.post(URL + "?explain=true", json={"records": records})).json()
    for decision in explained["decisions"]:
        assert len(decision["reasons"]) == 3
        reason = decision["reasons"][0]
        assert {"sentence", "feature", "value", "contribution", "effect"} <= set(reason)
    for decision in plain:
        if decision["action"] != "none" or decision["status"] == "pending_review":
            assert decision["reasons"], decision


async def test_unknown_app_is_a_404_with_a_suggestion(client: httpx.AsyncClient) -> None:
    response = await client.post("/v1/apps/chrun/decisions", json=customer(1))
    assert response.status_code == 404
    assert "did you mean 'churn'" in response.json()["detail"]


async def test_malformed_bodies_are_422_problems(client: httpx.AsyncClient) -> None:
    for content in (b"{not json", b"[1, 2]", b'"text"'):
        response = await client.post(URL, content=content)
        assert response.status_code == 422, content
        assert response.json()["code"] == "input_invalid"


async def test_values_json_allows_beyond_strict_parsers_are_judged_by_the_contract(
    client: httpx.AsyncClient,
) -> None:
    huge = json.dumps({**customer(1), "tenure_months": 2**70})
    response = await client.post(URL, content=huge)
    assert response.status_code == 422
    assert response.json()["errors"][0]["field"] == "tenure_months"
    assert response.json()["errors"][0]["rule"] == "type"
    # NaN is not JSON, but Python writes it: a NaN counts as missing, here for a required field
    nan = json.dumps({**customer(2), "discount_pct": float("nan")})
    response = await client.post(URL, content=nan)
    assert response.status_code == 422
    error = response.json()["errors"][0]
    assert (error["field"], error["rule"]) == ("discount_pct", "required")


@pytest.mark.parametrize("settings", [ServeSettings(max_records=10, max_body_bytes=20_000)])
async def test_batch_and_body_limits_answer_413(client: httpx.AsyncClient) -> None:
    too_many = await client.post(URL, json={"records": [customer(i) for i in range(11)]})
    assert too_many.status_code == 413
    assert too_many.json()["code"] == "payload_too_large"
    too_big = await client.post(URL, content=json.dumps(customer(1, email="x" * 30_000)))
    assert too_big.status_code == 413
    ok = await client.post(URL, json={"records": [customer(i) for i in range(10)]})
    assert ok.status_code == 200 and len(ok.json()["decisions"]) == 10


async def test_a_batch_of_only_bad_records_answers_200_with_errors(
    client: httpx.AsyncClient,
) -> None:
    response = await client.post(URL, json={"records": [customer(1, plan=None)]})
    assert response.status_code == 200
    body = response.json()
    assert body["decisions"] == [] and body["errors"][0]["rule"] == "required"


async def test_bad_query_and_header_values_are_422_problems_naming_the_parameter(
    client: httpx.AsyncClient, store: StoreContract
) -> None:
    cases: list[tuple[dict[str, Any], str, str]] = [
        ({"params": {"explain": "maybe"}}, "explain", "bool_parsing"),
        ({"headers": {"Idempotency-Key": "k" * 256}}, "Idempotency-Key", "max_length"),
    ]
    for kwargs, field, rule in cases:
        response = await client.post(URL, json=customer(1), **kwargs)
        assert response.status_code == 422, kwargs
        problem = response.json()
        assert problem["code"] == "input_invalid"
        assert [(e["field"], e["rule"]) for e in problem["errors"]] == [(field, rule)]
    listed = store.list_decisions(DecisionQuery(app="churn"))
    assert listed.items == []  # nothing was decided for a refused request
    for value, explained in (("YES", True), ("off", False), ("1", True)):
        body = (await client.post(URL, json=customer(2), params={"explain": value})).json()
        assert bool(body["reasons"]) is explained, value


async def test_openapi_describes_the_decision_route_with_its_parameters(
    client: httpx.AsyncClient,
) -> None:
    document = (await client.get("/openapi.json")).json()
    operation = document["paths"][URL.replace("churn", "{app}")]["post"]
    names = {(p["in"], p["name"]) for p in operation["parameters"]}
    assert names == {
        ("path", "app"),
        ("query", "explain"),
        ("query", "decided_at"),  # a backfill, for admin and owner keys
        ("header", "Idempotency-Key"),
    }
    assert operation["requestBody"]["content"]["application/json"]["schema"]
    assert {"200", "413", "422", "503"} <= set(operation["responses"])
    assert "get" in document["paths"][URL.replace("churn", "{app}")]
