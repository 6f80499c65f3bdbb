"""``/v1/apps/{app}/models``: register, four-eyes promotion with roles enforced, rollback,
canary; and versions switched under load with no failed or mixed request."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
from tests.fixtures_db import ON_BOTH_DATABASES
from tests.web.conftest import auth, customer
from tests.web.test_deliveries import RISKY

from doorstep.core.routing import in_canary
from doorstep.services.apps.registry import Registry, register_apps
from doorstep.store import DeliveryQuery, Store
from doorstep.store.protocols import StageChange
from doorstep.store.tables import decisions
from doorstep.web import ServeSettings, create_app

pytestmark = [ON_BOTH_DATABASES, pytest.mark.anyio]


@pytest.fixture
async def served(
    registry: Registry, store: Store, keys: dict[str, str], settings: ServeSettings
) -> AsyncIterator[httpx.AsyncClient]:
    """An admin client of a server whose app's spec model is registered (the first champion)."""
    register_apps(registry, store, actor="serve", models=Path(settings.home) / "models")
    app = create_app(registry, store, settings)
    app.state.service.live.refresh(store)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    headers = auth(keys, "admin")
    async with httpx.AsyncClient(
        transport=transport, base_url="http://testserver", headers=headers
    ) as client:
        yield client
    await app.state.service.close()


def retrained_model(directory: Path) -> Path:
    from doorstep.examples.churn import generate_customers, train_model

    path = directory / "model-v2.lgb.txt"
    booster = train_model(generate_customers(2_000, seed=11), trees=20, seed=11)
    booster.save_model(str(path))  # type: ignore[attr-defined]
    return path


async def test_register_promote_with_two_keys_and_roll_back(
    served: httpx.AsyncClient, keys: dict[str, str], tmp_path: Path, store: Store
) -> None:
    path = retrained_model(tmp_path)
    body = {"path": str(path), "version": "2", "notes": "retrained"}
    created = await served.post("/v1/apps/churn/models", json=body)
    assert created.status_code == 201, created.text
    assert created.json()["stage"] == "candidate" and created.json()["notes"] == "retrained"
    assert (await served.post("/v1/apps/churn/models", json=body)).status_code == 200
    misfit = await served.post(
        "/v1/apps/churn/models", json={"path": str(tmp_path / "none.lgb.txt"), "version": "3"}
    )
    assert misfit.status_code == 422 and misfit.json()["code"] == "model_misfit"
    assert "model.path" in misfit.json()["detail"]
    denied = await served.post(
        "/v1/apps/churn/models/2/promote", json={"reason": "r"}, headers=auth(keys, "reviewer")
    )
    assert denied.status_code == 403
    asked = await served.post("/v1/apps/churn/models/2/promote", json={"reason": "better"})
    assert asked.status_code == 201 and asked.json()["state"] == "pending"
    alone = await served.post("/v1/apps/churn/models/2/approve", json={"reason": "me too"})
    assert alone.status_code == 403 and "four eyes" in alone.json()["detail"]
    decided = await served.post("/v1/apps/churn/decisions", json=customer(1))
    assert decided.json()["model_version"] != "2"
    approved = await served.post(
        "/v1/apps/churn/models/2/approve", json={"reason": "ok"}, headers=auth(keys, "owner")
    )
    assert approved.status_code == 200 and approved.json()["state"] == "approved"
    decided = await served.post("/v1/apps/churn/decisions", json=customer(2))
    assert decided.json()["model_version"] == "2"  # switched before the approval answered
    listed = (await served.get("/v1/apps/churn/models", headers=auth(keys, "viewer"))).json()
    assert listed["serving"] == "2"
    assert [v["stage"] for v in listed["versions"]] == ["retired", "champion"]
    rolled = await served.post("/v1/apps/churn/rollback", json={"reason": "complaints"})
    assert rolled.status_code == 200 and rolled.json()["serving"] != "2"
    decided = await served.post("/v1/apps/churn/decisions", json=customer(3))
    assert decided.json()["model_version"] == rolled.json()["serving"]
    assert store.verify_audit().ok


async def test_a_canary_decides_its_share_of_entities(
    served: httpx.AsyncClient, tmp_path: Path
) -> None:
    path = retrained_model(tmp_path)
    await served.post("/v1/apps/churn/models", json={"path": str(path), "version": "2"})
    started = await served.post("/v1/apps/churn/models/2/canary", json={"share": 30})
    assert started.status_code == 200, started.text
    records = [customer(i) for i in range(1, 201)]
    answer = (await served.post("/v1/apps/churn/decisions", json={"records": records})).json()
    import polars as pl

    chosen = in_canary("churn", pl.Series([r["customer_id"] for r in records]), 0.3)
    versions = [d["model_version"] for d in answer["decisions"]]
    assert [v == "2" for v in versions] == chosen.tolist()
    stopped = await served.post("/v1/apps/churn/canary/stop", json={"reason": "enough"})
    assert stopped.status_code == 200
    answer = (await served.post("/v1/apps/churn/decisions", json={"records": records})).json()
    assert {d["model_version"] for d in answer["decisions"]} != {"2"}
    assert "2" not in {d["model_version"] for d in answer["decisions"]}


async def test_the_monitoring_report_compares_the_canary_with_the_champion(
    served: httpx.AsyncClient, tmp_path: Path
) -> None:
    first = (await served.get("/v1/apps/churn/monitoring")).json()
    assert first["versions"] is None  # one version, no challenger
    await served.post(
        "/v1/apps/churn/models",
        json={"path": str(retrained_model(tmp_path)), "version": "2"},
    )
    await served.post("/v1/apps/churn/models/2/canary", json={"share": 30})
    records = [customer(i) for i in range(1, 201)]
    answer = (await served.post("/v1/apps/churn/decisions", json={"records": records})).json()
    by_canary = sum(d["model_version"] == "2" for d in answer["decisions"])
    champion = next(d["model_version"] for d in answer["decisions"] if d["model_version"] != "2")
    report = (await served.get("/v1/apps/churn/monitoring")).json()
    versions = report["versions"]
    assert versions is not None and versions["champion"] == champion
    assert versions["challenger"] == "2" and versions["comparison"]["mode"] == "canary"
    assert versions["verdict"]  # no outcomes yet: the comparison says why in words
    rows = {(row["version"], row["role"]): row for row in versions["drift"]}
    assert rows[champion, "champion"]["scores"] == 200 - by_canary
    canary = rows["2", "canary"]
    assert canary["scores"] == by_canary and canary["against_champion"]["rows"] == by_canary
    compared = await served.get("/v1/apps/churn/models/compare", params={"mode": "canary"})
    assert compared.json()["verdict"] == versions["verdict"]


async def test_no_request_fails_or_mixes_versions_while_the_champion_switches(
    served: httpx.AsyncClient, keys: dict[str, str], tmp_path: Path, store: Store
) -> None:
    path = retrained_model(tmp_path)
    await served.post("/v1/apps/churn/models", json={"path": str(path), "version": "2"})
    first = (await served.get("/v1/apps/churn/models")).json()["serving"]
    clock = itertools.count()
    seen: list[tuple[int, int, set[str]]] = []  # (sent, answered, versions of its decisions)
    marks: dict[str, tuple[int, int]] = {}  # switch: (sent, answered)
    failures: list[str] = []
    done = asyncio.Event()

    async def client_load(worker: int) -> None:
        n = 0
        while not done.is_set():
            n += 1
            sent = next(clock)
            if n % 3:
                answer = await served.post(
                    "/v1/apps/churn/decisions", json=customer(worker * 10_000 + n)
                )
                versions = {answer.json().get("model_version", "?")}
            else:
                many = [customer(worker * 10_000 + n * 10 + i) for i in range(5)]
                answer = await served.post("/v1/apps/churn/decisions", json={"records": many})
                versions = {d["model_version"] for d in answer.json().get("decisions", [])}
            if answer.status_code != 200:
                failures.append(answer.text)
            seen.append((sent, next(clock), versions))

    async def switch(name: str, url: str, key: str) -> None:
        await asyncio.sleep(0.3)
        sent = next(clock)
        answer = await served.post(url, json={"reason": name}, headers=auth(keys, key))
        assert answer.status_code in (200, 201), answer.text
        marks[name] = (sent, next(clock))

    async def switches() -> None:
        await switch("request", "/v1/apps/churn/models/2/promote", "admin")
        await switch("approve", "/v1/apps/churn/models/2/approve", "owner")
        await switch("rollback", "/v1/apps/churn/rollback", "admin")
        await asyncio.sleep(0.3)
        done.set()

    await asyncio.gather(switches(), *(client_load(w) for w in range(4)))
    assert failures == []
    assert all(len(v) == 1 for _, _, v in seen), "a request saw two versions"
    approve, rollback = marks["approve"], marks["rollback"]
    for sent, answered, (version,) in ((s, a, v) for s, a, v in seen):
        if answered < approve[0] or sent > rollback[1]:
            assert version == first
        elif approve[1] < sent and answered < rollback[0]:
            assert version == "2"
        else:
            assert version in (first, "2")
    during = [v for s, a, (v,) in ((s, a, v) for s, a, v in seen) if approve[1] < s < rollback[0]]
    assert during and set(during) == {"2"}
    with store.engine.connect() as conn:
        pairs = set(conn.execute(sa.select(decisions.c.model_version, decisions.c.model_hash)))
    registered = {(r["version"], r["content_hash"]) for r in store.model_versions("churn")}
    assert pairs <= registered and len(pairs) == 2
    assert store.verify_audit().ok


async def test_a_shadow_scores_every_request_beside_the_champion_and_never_delivers(
    served: httpx.AsyncClient, tmp_path: Path, store: Store
) -> None:
    path = retrained_model(tmp_path)
    await served.post("/v1/apps/churn/models", json={"path": str(path), "version": "2"})
    first = (await served.get("/v1/apps/churn/models")).json()["serving"]
    # the retrained model (champion here) acts on fewer customers than the first (shadow here)
    changes = [StageChange(first, "retired"), StageChange("2", "champion")]
    store.change_model_stages("churn", changes, actor="test", reason="r", expect=None)
    started = await served.post(f"/v1/apps/churn/models/{first}/shadow", json={"reason": "try"})
    assert started.status_code == 200, started.text
    assert started.json()["serving"] == "2"
    records = [customer(i) for i in range(1, 41)]
    records += [customer(100 + i, **RISKY) for i in range(20)]
    answer = (await served.post("/v1/apps/churn/decisions", json={"records": records})).json()
    one = (await served.post("/v1/apps/churn/decisions", json=customer(99, **RISKY))).json()
    decided = [*answer["decisions"], one]
    assert {d["model_version"] for d in decided} == {"2"}
    rows = [r for page in store.iter_shadow("churn", first) for r in page]
    assert sorted(r.decision_id for r in rows) == sorted(d["decision_id"] for d in decided)
    by_id = {d["decision_id"]: d for d in decided}
    assert all(r.entity_id == by_id[r.decision_id]["entity_id"] for r in rows)
    assert all(r.model_version == first for r in rows)
    shadow_only = [
        r for r in rows if r.action != "none" and by_id[r.decision_id]["action"] == "none"
    ]
    assert shadow_only, "the shadow should act where the champion does not"
    delivered = {d.decision_id for d in store.list_deliveries(DeliveryQuery(app="churn")).items}
    acting = {d["decision_id"] for d in decided if d["action"] != "none"}
    assert delivered <= acting  # the champion's actions only
    assert not delivered & {r.decision_id for r in shadow_only}
    await served.post("/v1/apps/churn/shadow/stop", json={"reason": "done"})
    await served.post("/v1/apps/churn/decisions", json=customer(100))
    assert len([r for page in store.iter_shadow("churn", first) for r in page]) == len(rows)
