"""/metrics: latency by route, decisions by action, rejects, review backlog, deliveries by
state, delivery attempts and their send time; one registry per app instance."""

from __future__ import annotations

import re
import time
from pathlib import Path

import anyio
import httpx
import pytest
import sqlalchemy as sa
from tests.paths import ROOT
from tests.web.conftest import customer

from doorstep.services.apps.registry import Registry, load_registry
from doorstep.store.protocols import StoreContract
from doorstep.web import ServeSettings, create_app

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


def sample(text: str, name: str, **labels: str) -> float:
    """The value of ``name`` with exactly ``labels`` (in any order); 0 when absent."""
    wanted = {(k, f'"{v}"') for k, v in labels.items()}
    for line in text.splitlines():
        series, _, number = line.rpartition(" ")
        metric, _, rest = series.partition("{")
        pairs = {tuple(p.split("=", 1)) for p in rest.rstrip("}").split(",") if p}
        if metric == name and pairs == wanted:
            return float(number)
    return 0.0


async def test_metrics_count_delivery_attempts_by_connector_and_outcome(
    churn_app: Path, store: StoreContract, keys: dict[str, str]
) -> None:
    app = create_app(load_registry([churn_app / "doorstep.yaml"]), store, ServeSettings())
    transport = httpx.ASGITransport(app=app)
    headers = {"Authorization": f"Bearer {keys['admin']}"}
    labels = {"app": "churn", "connector": "callbacks", "outcome": "delivered"}
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=transport, base_url="http://t", headers=headers) as client,
    ):
        for number in range(1, 500):  # until one decision calls the customer (file connector)
            record = customer(number, plan="premium", support_tickets_30d=9, tenure_months=2)
            body = (await client.post("/v1/apps/churn/decisions", json=record)).json()
            if body["action"] == "call_customer" and body["status"] == "decided":
                break
        else:
            raise AssertionError("no customer got 'call_customer'")
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            text = (await client.get("/metrics")).text
            if sample(text, "doorstep_delivery_attempts_total", **labels):
                break
            await anyio.sleep(0.05)
    assert sample(text, "doorstep_delivery_attempts_total", **labels) == 1
    assert sample(text, "doorstep_delivery_seconds_count", **labels) == 1
    assert 0 < sample(text, "doorstep_delivery_seconds_sum", **labels) < 10
    assert sample(text, "doorstep_delivery_seconds_bucket", **labels, le="+Inf") == 1
    assert sample(text, "doorstep_delivery_seconds_bucket", **labels, le="10.0") == 1
    assert "# TYPE doorstep_delivery_seconds histogram" in text


async def test_metrics_count_feature_lookups_and_the_records_they_refuse(
    churn_app_template: Path, client: httpx.AsyncClient
) -> None:
    engine = sa.create_engine(f"sqlite:///{churn_app_template / 'features.db'}")
    with engine.connect() as conn:
        known = conn.execute(sa.text("SELECT min(customer_id) FROM customer_features")).scalar()
    engine.dispose()
    records = [{"customer_id": known}, {"customer_id": "C-nobody"}, {"customer_id": "C-\x00"}]
    answer = await client.post("/v1/apps/churn/decisions", json={"records": records})
    assert answer.status_code == 200 and len(answer.json()["decisions"]) == 1
    text = (await client.get("/metrics")).text
    source = {"app": "churn", "source": "customer_db"}
    assert sample(text, "doorstep_source_lookups_total", **source, outcome="ok") == 1
    assert sample(text, "doorstep_source_lookups_total", **source, outcome="unavailable") == 0
    assert sample(text, "doorstep_source_lookup_seconds_count", **source) == 1
    assert 0 < sample(text, "doorstep_source_lookup_seconds_sum", **source) < 5
    assert sample(text, "doorstep_source_entities_total", **source) == 2  # the bad id: never
    assert sample(text, "doorstep_source_refusals_total", app="churn", rule="entity_unknown") == 1
    assert sample(text, "doorstep_source_refusals_total", app="churn", rule="id_invalid") == 1


async def test_metrics_count_a_source_that_is_down(churn_app: Path, store: StoreContract) -> None:
    (churn_app / "features.db").unlink()
    (churn_app / "features.db").mkdir()  # SQLite cannot open a folder: the source is down
    app = create_app(load_registry([churn_app / "doorstep.yaml"]), store, ServeSettings())
    _, key = store.create_key("t", "admin", actor="test")
    transport = httpx.ASGITransport(app=app)
    headers = {"Authorization": f"Bearer {key}"}
    async with httpx.AsyncClient(transport=transport, base_url="http://t", headers=headers) as c:
        for _ in range(2):
            answer = await c.post("/v1/apps/churn/decisions", json={"customer_id": "C-1"})
            assert answer.status_code == 503
        text = (await c.get("/metrics")).text
    await app.state.service.close()
    source = {"app": "churn", "source": "customer_db"}
    assert sample(text, "doorstep_source_lookups_total", **source, outcome="unavailable") == 2
    assert sample(text, "doorstep_source_lookups_total", **source, outcome="ok") == 0


def test_every_metric_is_documented(registry: Registry, store: StoreContract) -> None:
    """Each metric of /metrics has a row in the table of docs/api.md."""
    app = create_app(registry, store)
    names = {m.name for m in app.state.service.metrics.registry.collect()}
    page = (ROOT / "docs" / "api.md").read_text()
    documented = set(re.findall(r"^\| `(doorstep_[a-z_]+)`", page, flags=re.M))
    counters = {n for n in names if f"{n}_total" in documented}
    assert len(names) >= 12
    assert names - documented - counters == set(), "missing from the metrics table of api.md"
