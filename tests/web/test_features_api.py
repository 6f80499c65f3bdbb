"""Decisions asked for by entity id alone: the churn example's customers come from its SQLite
feature table; problems for unknown entities and sources that are down; the runs' routes."""

from __future__ import annotations

from pathlib import Path

import anyio
import httpx
import pytest
import sqlalchemy as sa

from doorstep.services.apps.registry import Registry, load_registry
from doorstep.store import Store
from doorstep.store.protocols import DecisionQuery
from doorstep.web import create_app

pytestmark = pytest.mark.anyio
URL = "/v1/apps/churn/decisions"


def first_customer(app_dir: Path) -> str:
    engine = sa.create_engine(f"sqlite:///{app_dir / 'features.db'}")
    with engine.connect() as conn:
        found = conn.execute(sa.text("SELECT min(customer_id) FROM customer_features")).scalar()
    engine.dispose()
    return str(found)


async def call(
    registry: Registry, store: Store, method: str, url: str, **kwargs: object
) -> httpx.Response:
    app = create_app(registry, store)
    _, key = store.create_key("t", "admin", actor="test")
    transport = httpx.ASGITransport(app=app)
    headers = {"Authorization": f"Bearer {key}"}
    async with httpx.AsyncClient(transport=transport, base_url="http://t", headers=headers) as c:
        response = await c.request(method, url, **kwargs)  # type: ignore[arg-type]
    await app.state.service.close()
    return response


async def test_decided_with_only_the_customer_id(
    churn_app_template: Path, registry: Registry, store: Store
) -> None:
    customer = first_customer(churn_app_template)
    answer = await call(registry, store, "POST", URL, json={"customer_id": customer})
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert set(body["lineage"]["sources"]["customer_db"]["fields"]) >= {"tenure_months", "plan"}
    read = await call(registry, store, "GET", f"/v1/decisions/{body['decision_id']}")
    assert read.json()["lineage"] == body["lineage"]
    assert read.json()["inputs"]["tenure_months"] is not None
    assert store.verify_audit().ok


async def test_an_unknown_customer_is_a_problem_not_a_decision(
    registry: Registry, store: Store
) -> None:
    answer = await call(registry, store, "POST", URL, json={"customer_id": "C-nobody"})
    assert answer.status_code == 422
    problem = answer.json()
    assert problem["code"] == "entity_unknown"
    assert problem["errors"][0]["rule"] == "entity_unknown"
    assert answer.headers["content-type"] == "application/problem+json"
    assert store.list_decisions(DecisionQuery(app="churn")).items == []


async def test_a_source_down_answers_503_and_records_nothing(churn_app: Path, store: Store) -> None:
    (churn_app / "features.db").unlink()
    (churn_app / "features.db").mkdir()  # SQLite cannot open a folder: the source is down
    registry = load_registry([churn_app / "doorstep.yaml"])  # this copy's source is down
    answer = await call(
        registry, store, "POST", URL, json={"records": [{"customer_id": "C-0004001"}]}
    )
    assert answer.status_code == 503
    assert answer.headers["Retry-After"] == "1"
    assert answer.json()["code"] == "feature_source_unavailable"
    assert store.list_decisions(DecisionQuery(app="churn")).items == []


async def test_runs_are_listed_and_shown(registry: Registry, store: Store) -> None:
    lease = store.start_run("churn", "customer_db", runner="test", lease_seconds=60)
    assert lease is not None
    listed = await call(registry, store, "GET", "/v1/runs?app=churn")
    assert [r["run_id"] for r in listed.json()["items"]] == [lease.run.id]
    shown = await call(registry, store, "GET", f"/v1/runs/{lease.run.id}")
    assert shown.json()["state"] == "running"
    missing = await call(registry, store, "GET", "/v1/runs/nope")
    assert missing.status_code == 404 and missing.json()["code"] == "not_found"


async def test_a_bad_id_answers_422_for_its_own_request_alone(
    churn_app_template: Path, registry: Registry, store: Store
) -> None:
    customer = first_customer(churn_app_template)
    app = create_app(registry, store)
    _, key = store.create_key("t", "admin", actor="test")
    transport = httpx.ASGITransport(app=app)
    headers = {"Authorization": f"Bearer {key}"}
    bodies: list[object] = [{"customer_id": customer} for _ in range(12)]
    bodies[5] = {"customer_id": customer + "\x00"}
    bodies[8] = {"customer_id": True}
    async with httpx.AsyncClient(transport=transport, base_url="http://t", headers=headers) as c:
        async with anyio.create_task_group() as group:  # one micro-batch, as far as it goes
            answers: dict[int, httpx.Response] = {}

            async def send(index: int, body: object) -> None:
                answers[index] = await c.post(URL, json=body)

            for index, body in enumerate(bodies):
                group.start_soon(send, index, body)
        batch = await c.post(URL, json={"records": [{"customer_id": "\x01"}, bodies[0]]})
    await app.state.service.close()
    assert {i for i, a in answers.items() if a.status_code != 200} == {5, 8}
    for index in (5, 8):
        problem = answers[index].json()
        assert answers[index].status_code == 422 and problem["code"] == "input_invalid"
        assert problem["errors"][0]["rule"] == "id_invalid"
        assert problem["errors"][0]["field"] == "customer_id"
    assert "U+0000" in answers[5].json()["errors"][0]["message"]
    assert batch.status_code == 200
    assert [e["rule"] for e in batch.json()["errors"]] == ["id_invalid"]
    assert len(batch.json()["decisions"]) == 1


async def test_a_customer_with_two_rows_is_a_problem_not_a_guess(
    churn_app: Path, store: Store
) -> None:
    customer = first_customer(churn_app)
    engine = sa.create_engine(f"sqlite:///{churn_app / 'features.db'}")
    with engine.begin() as conn:
        conn.execute(sa.text("ALTER TABLE customer_features RENAME TO base"))
        assert customer.replace("-", "").isalnum()  # spelled into the view's text
        conn.execute(
            sa.text(
                "CREATE VIEW customer_features AS SELECT * FROM base UNION ALL "
                f"SELECT * FROM base WHERE customer_id = '{customer}'"
            )
        )
    engine.dispose()
    registry = load_registry([churn_app / "doorstep.yaml"])
    answer = await call(registry, store, "POST", URL, json={"customer_id": customer})
    assert answer.status_code == 422, answer.text
    problem = answer.json()
    assert problem["code"] == "entity_ambiguous"
    assert problem["title"] == "Ambiguous entity"
    [error] = problem["errors"]
    assert error["rule"] == "entity_ambiguous" and error["entity_id"] == customer
    assert "feature source 'customer_db'" in error["message"]
    assert store.list_decisions(DecisionQuery(app="churn")).items == []


async def test_a_record_that_carries_every_input_says_so_in_its_lineage(
    churn_app_template: Path, registry: Registry, store: Store
) -> None:
    engine = sa.create_engine(f"sqlite:///{churn_app_template / 'features.db'}")
    with engine.connect() as conn:
        row = conn.execute(sa.text("SELECT * FROM customer_features LIMIT 1")).mappings().one()
    engine.dispose()
    fields = list(registry.get("churn").spec.inputs.fields)
    record = {"customer_id": row["customer_id"], **{f: row[f] for f in fields}}
    record["autopay"] = bool(record["autopay"])
    answer = await call(registry, store, "POST", URL, json=record)
    assert answer.status_code == 200, answer.text
    assert answer.json()["lineage"] == {"request": fields, "sources": {}}
    read = await call(registry, store, "GET", f"/v1/decisions/{answer.json()['decision_id']}")
    assert read.json()["lineage"] == {"request": fields, "sources": {}}


async def test_a_nul_id_on_postgresql_fails_no_other_request_of_its_micro_batch(
    churn_app: Path, store: Store, pg_url: str
) -> None:
    """The reported defect: one id PostgreSQL cannot hold failed every request coalesced with
    it (503 for 35 of 40)."""
    local = sa.create_engine(f"sqlite:///{churn_app / 'features.db'}")
    remote = sa.create_engine(pg_url)
    meta = sa.MetaData()
    table = sa.Table("customer_features", meta, autoload_with=local)
    with local.connect() as conn:
        rows = [dict(r) for r in conn.execute(table.select().limit(40)).mappings()]
    meta.create_all(remote)
    with remote.begin() as conn:
        conn.execute(table.insert(), rows)
    local.dispose()
    remote.dispose()
    spec = churn_app / "doorstep.yaml"
    spec.write_text(
        spec.read_text().replace('"${FEATURES_DB_URL:-sqlite:///features.db}"', f'"{pg_url}"')
    )
    app = create_app(load_registry([spec]), store)
    _, key = store.create_key("t", "admin", actor="test")
    headers = {"Authorization": f"Bearer {key}"}
    bodies = [{"customer_id": r["customer_id"]} for r in rows]
    for index in (4, 13, 22, 31):
        bodies[index] = {"customer_id": f"{rows[index]['customer_id']}\x00"}
    answers: dict[int, httpx.Response] = {}
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t", headers=headers) as c:

        async def send(index: int, body: object) -> None:
            answers[index] = await c.post(URL, json=body)

        async with anyio.create_task_group() as group:
            for index, body in enumerate(bodies):
                group.start_soon(send, index, body)
    await app.state.service.close()
    statuses = {i: a.status_code for i, a in answers.items()}
    assert {i for i, s in statuses.items() if s != 200} == {4, 13, 22, 31}, statuses
    assert {statuses[i] for i in (4, 13, 22, 31)} == {422}
    assert len(store.list_decisions(DecisionQuery(app="churn", limit=100)).items) == 36
