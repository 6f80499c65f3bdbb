"""Every JSON route answers what ``/openapi.json`` says it answers: the app runs in-process, each
route with a JSON response is called with an admin key on a store with decisions, reviews,
deliveries, outcomes and a run, and each body is checked against the route's declared schema,
its objects closed (a key the model does not list fails, as with ``extra="forbid"``).

The routes come from ``app.routes``: a JSON route without a declared schema, one this test does
not call, a route left out of the document that is not a page, or a model that allows extra keys
fails the test. So a route added later must come with its model, and a body that drifts from its
model is caught here (on SQLite and PostgreSQL).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute
from starlette.routing import Mount, Route
from tests.web.conftest import customer
from tests.web.test_deliveries import RISKY
from tests.web.test_features_api import first_customer

from doorstep.services.apps.registry import Registry
from doorstep.store.protocols import StoreContract
from doorstep.store.streams import ConsumerReport
from doorstep.web import ServeSettings, create_app
from doorstep.web.pages.access import PageRoute

pytestmark = pytest.mark.anyio

GOLDEN = Path(__file__).parents[1] / "services" / "monitor" / "golden"
FRAMEWORK = {"/openapi.json", "/docs", "/docs/oauth2-redirect", "/redoc"}
"""FastAPI's own routes: the document and its viewers."""
Calls = dict[tuple[str, str], list[httpx.Response]]


def resolve(schema: dict[str, Any], components: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        schema = components[schema["$ref"].rsplit("/", 1)[-1]]
    return schema


def problems(value: Any, schema: dict[str, Any], components: dict[str, Any], at: str) -> list[str]:
    """Where ``value`` breaks ``schema`` (the subset of JSON Schema pydantic writes), with
    objects that list their properties closed."""
    schema = resolve(schema, components)
    for key in ("anyOf", "oneOf"):
        if key in schema:
            each = [problems(value, s, components, at) for s in schema[key]]
            if any(not found for found in each):
                return []
            return [f"{at}: matches none of {key}: " + " | ".join("; ".join(f) for f in each)]
    if "allOf" in schema:
        return [p for s in schema["allOf"] for p in problems(value, s, components, at)]
    if "const" in schema and value != schema["const"]:
        return [f"{at}: {value!r} is not {schema['const']!r}"]
    if "enum" in schema and value not in schema["enum"]:
        return [f"{at}: {value!r} is not one of {schema['enum']}"]
    kind = schema.get("type")
    checks: dict[str, Callable[[Any], bool]] = {
        "null": lambda v: v is None,
        "boolean": lambda v: isinstance(v, bool),
        "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
        "number": lambda v: isinstance(v, int | float) and not isinstance(v, bool),
        "string": lambda v: isinstance(v, str),
        "array": lambda v: isinstance(v, list),
        "object": lambda v: isinstance(v, dict),
    }
    if kind is not None and not checks[kind](value):
        return [f"{at}: {value!r} is not of type {kind}"]
    if isinstance(value, list) and "items" in schema:
        return [
            p
            for i, item in enumerate(value)
            for p in problems(item, schema["items"], components, f"{at}[{i}]")
        ]
    if isinstance(value, dict) and (kind == "object" or "properties" in schema):
        properties = schema.get("properties", {})
        extra = schema.get("additionalProperties", not properties)
        found = [f"{at}: '{k}' is missing" for k in schema.get("required", []) if k not in value]
        for key, item in value.items():
            if key in properties:
                found += problems(item, properties[key], components, f"{at}.{key}")
            elif extra is False:
                found.append(f"{at}: '{key}' is not in the model")
            elif isinstance(extra, dict):
                found += problems(item, extra, components, f"{at}.{key}")
        return found
    return []


def operations(app: FastAPI) -> dict[tuple[str, str], dict[str, Any]]:
    """Every operation of the document, by method and path."""
    return {
        (method.upper(), path): operation
        for path, item in app.openapi()["paths"].items()
        for method, operation in item.items()
    }


@pytest.fixture
async def site(
    registry: Registry, store: StoreContract, keys: dict[str, str], settings: ServeSettings
) -> AsyncIterator[tuple[FastAPI, httpx.AsyncClient]]:
    """The app, and an admin client of it (as ``client`` in conftest, with the app at hand)."""
    app = create_app(registry, store, settings)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    headers = {"Authorization": f"Bearer {keys['admin']}"}
    async with httpx.AsyncClient(
        transport=transport, base_url="http://testserver", headers=headers
    ) as client:
        yield app, client
    await app.state.service.close()


async def test_every_route_is_documented_or_a_page(
    site: tuple[FastAPI, httpx.AsyncClient],
) -> None:
    app, _ = site
    documented = operations(app)
    for route in app.routes:
        if isinstance(route, Mount):
            assert route.path == "/static", route.path
        elif isinstance(route, APIRoute) and not route.include_in_schema:
            assert isinstance(route, PageRoute), f"{route.path}: left out of OpenAPI"
        else:
            assert isinstance(route, Route), route
            if route.path in FRAMEWORK and not isinstance(route, APIRoute):
                continue
            for method in route.methods or ():
                if method != "HEAD":
                    assert (method, route.path) in documented, f"{method} {route.path}"


async def test_no_model_allows_keys_it_does_not_list(
    site: tuple[FastAPI, httpx.AsyncClient],
) -> None:
    app, _ = site
    for name, schema in app.openapi()["components"]["schemas"].items():
        if schema.get("properties"):
            assert schema.get("additionalProperties") in (None, False), name


async def exercise(
    client: httpx.AsyncClient, store: StoreContract, entity: str, model: tuple[Path, str]
) -> Calls:
    """Call every route with data behind it (``entity``: a customer of the example's feature
    table); the answers by method and path template."""
    calls: Calls = {}

    def call(method: str, template: str, **params: str) -> Callable[..., Awaitable[httpx.Response]]:
        async def send(**kwargs: Any) -> httpx.Response:
            response = await client.request(method, template.format(**params), **kwargs)
            assert response.status_code in (200, 201), (method, template, response.text)
            calls.setdefault((method, template), []).append(response)
            return response

        return send

    decisions = "/v1/apps/{app}/decisions"
    one = (await call("POST", decisions, app="churn")(json=customer(1))).json()
    completed = await call("POST", decisions, app="churn")(json={"customer_id": entity})
    assert completed.json()["lineage"], "a record completed from the feature table"
    records = [customer(i) for i in range(2, 200)] + [customer(900 + i, **RISKY) for i in range(4)]
    records.append(customer(999, plan="gold"))  # refused: an error in the answer
    batch = (await call("POST", decisions, app="churn")(json={"records": records})).json()
    assert batch["errors"], "the batch should refuse one record"
    await call("GET", decisions, app="churn")(params={"limit": 50})
    pending = [d for d in batch["decisions"] if d["status"] == "pending_review"]
    review = "/v1/decisions/{decision_id}/review"
    body = {"verdict": "approve", "reason": "checked by hand"}
    await call("POST", review, decision_id=pending[0]["decision_id"])(json=body)
    body = {"verdict": "override", "reason": "not this one", "action": "none"}
    await call("POST", review, decision_id=pending[1]["decision_id"])(json=body)
    await call("POST", review + "/undo", decision_id=pending[1]["decision_id"])()
    read = "/v1/decisions/{decision_id}"
    for decision in (one, completed.json(), pending[0], pending[2]):
        await call("GET", read, decision_id=decision["decision_id"])()

    deliveries = "/v1/apps/{app}/deliveries"
    listed = (await call("GET", deliveries, app="churn")(params={"limit": 500})).json()["items"]
    held = next(d for d in listed if d["state"] == "held")
    await call("GET", "/v1/deliveries/{delivery_id}", delivery_id=held["delivery_id"])()
    verb = "/v1/deliveries/{delivery_id}/{verb}"
    for action in ("cancel", "retry"):
        path = verb.replace("{verb}", action)
        await call("POST", path, delivery_id=held["delivery_id"])(json={"reason": "test"})
    await call("GET", "/v1/apps/{app}/delivery-counts", app="churn")()
    enable = "/v1/apps/{app}/connectors/{connector}/enable"
    await call("POST", enable, app="churn", connector="crm")()

    outcomes = [
        {"decision_id": d["decision_id"], "churned": i % 2, "observed_at": d_time()}
        for i, d in enumerate(batch["decisions"][:40])
    ]
    outcomes += [
        {"customer_id": "C-404", "churned": 1, "observed_at": d_time()},
        {"customer_id": "C-2", "churned": "perhaps", "observed_at": d_time()},
    ]
    await call("POST", "/v1/apps/{app}/outcomes", app="churn")(json={"outcomes": outcomes})
    monitoring = "/v1/apps/{app}/monitoring"
    await call("GET", monitoring, app="churn")(params={"window": "hour"})
    await call("GET", monitoring, app="churn")(params={"window": "day", "periods": 2})
    await call("GET", "/v1/apps/{app}/fairness", app="churn")(params={"by": "region"})
    await call("GET", "/v1/apps/{app}/models/compare", app="churn")(params={"window": "day"})
    backtest = {"model": "model.lgb.txt", "version": "again", "days": 1, "sample": 2}
    await call("POST", "/v1/apps/{app}/models/backtest", app="churn")(json=backtest)

    lease = store.start_run("churn", "customer_db", runner="test", lease_seconds=60)
    assert lease is not None
    await call("GET", "/v1/runs")(params={"app": "churn"})
    await call("GET", "/v1/runs/{run_id}", run_id=lease.run.id)()
    slot = datetime(2025, 5, 1, 2, tzinfo=UTC)
    failed = store.start_run(
        "churn", "customer_db", runner="t", lease_seconds=60, schedule="nightly", slot=slot
    )
    assert failed is not None and store.finish_run(failed, "failed", "the source was down")
    await call("POST", "/v1/runs/{run_id}/resume", run_id=failed.run.id)()
    now = datetime.now(UTC)
    report = ConsumerReport("churn", "orders", "h:1", "nats", now, now, received=3, lag=2)
    store.report_stream_consumer(replace(report, last_error="down", last_error_at=now))
    await call("GET", "/v1/streams")()
    await call("GET", "/v1/streams/{stream}", stream="orders")()
    await exercise_models(call, model)
    await call("GET", "/v1/apps")()
    for health in ("/healthz", "/readyz", "/metrics"):
        await call("GET", health)()
    return calls


async def exercise_models(
    call: Callable[..., Callable[..., Awaitable[httpx.Response]]], model: tuple[Path, str]
) -> None:
    """Every route of ``/v1/apps/{app}/models``: two versions of the spec's own model file
    registered, tried, promoted with two keys (``model``: the file and an owner key's secret;
    the client's key is an admin's), withdrawn, rolled back."""
    path, owner_key = model
    models = "/v1/apps/{app}/models"
    one = models + "/{version}"
    why = {"json": {"reason": "test"}}
    owner = {"Authorization": f"Bearer {owner_key}"}
    for version in ("a", "b"):
        await call("POST", models, app="churn")(json={"path": str(path), "version": version})
    await call("POST", one + "/canary", app="churn", version="a")(json={"share": 10})
    await call("POST", "/v1/apps/{app}/canary/stop", app="churn")(**why)
    await call("POST", one + "/shadow", app="churn", version="a")(**why)
    await call("POST", "/v1/apps/{app}/shadow/stop", app="churn")(**why)
    await call("POST", one + "/promote", app="churn", version="a")(**why)
    await call("POST", one + "/withdraw", app="churn", version="a")(**why)
    for version in ("a", "b"):
        await call("POST", one + "/promote", app="churn", version=version)(**why)
        await call("POST", one + "/approve", app="churn", version=version)(**why, headers=owner)
    await call("POST", "/v1/apps/{app}/rollback", app="churn")(**why)
    listed = await call("GET", models, app="churn")()
    assert listed.json()["serving"] == "a" and listed.json()["pending_promotion"] is None


def d_time() -> str:
    return datetime.now(UTC).isoformat()


async def test_every_json_answer_matches_its_model(
    site: tuple[FastAPI, httpx.AsyncClient],
    store: StoreContract,
    churn_app_template: Path,
    keys: dict[str, str],
) -> None:
    app, client = site
    model = (churn_app_template / "model.lgb.txt", keys["owner"])
    calls = await exercise(client, store, first_customer(churn_app_template), model)
    components = app.openapi()["components"]["schemas"]
    failures: list[str] = []
    for (method, path), operation in operations(app).items():
        answers = calls.get((method, path))
        if not answers:
            failures.append(f"{method} {path} is not called by this test: add it to exercise()")
            continue
        for answer in answers:  # each against what its status documents (200, or 201 made)
            failures += matches(answer, operation, components, f"{method} {path}")[:10]
    assert not failures, "\n".join(failures)


def matches(
    answer: httpx.Response, operation: dict[str, Any], components: dict[str, Any], where: str
) -> list[str]:
    """What is wrong with ``answer`` against the response its status documents."""
    documented = operation["responses"].get(str(answer.status_code))
    if documented is None:
        return [f"{where}: answered {answer.status_code}, which it does not document"]
    content = documented.get("content", {})
    kind = answer.headers["content-type"].split(";")[0]
    if "application/json" not in content:
        return [] if kind in content else [f"{where}: {kind} answered"]
    schema = content["application/json"].get("schema") or {}
    if not schema:
        return [f"{where} declares no response model"]
    if answer.headers["content-type"] != "application/json":
        return [f"{where}: {answer.headers['content-type']} answered"]
    return problems(answer.json(), schema, components, where)


async def test_every_golden_report_matches_the_monitoring_model(
    site: tuple[FastAPI, httpx.AsyncClient],
) -> None:
    """The recorded reports (tests/services/monitor/golden: regression, multiclass, ROI
    unavailable, empty, drift without attribution, ...) hold the shapes one app cannot show."""
    app, _ = site
    document = app.openapi()
    operation = document["paths"]["/v1/apps/{app}/monitoring"]["get"]
    schema = operation["responses"]["200"]["content"]["application/json"]["schema"]
    golden = sorted(GOLDEN.glob("report_*.json"))
    assert len(golden) >= 9
    for path in golden:
        report = json.loads(path.read_text(encoding="utf-8"))
        found = problems(report, schema, document["components"]["schemas"], path.stem)
        assert not found, "\n".join(found[:20])
