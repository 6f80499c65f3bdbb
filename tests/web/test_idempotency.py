"""Idempotency-Key: replays answer the same bytes; another body is a conflict; concurrent
requests with one key make one decision. On SQLite and PostgreSQL: the race on one key is
settled by each database's own locking."""

from __future__ import annotations

import asyncio
import json

import httpx
import pytest
from tests.fixtures_db import ON_BOTH_DATABASES
from tests.web.conftest import customer

from doorstep.store.protocols import DecisionQuery, StoreContract

pytestmark = [pytest.mark.anyio, ON_BOTH_DATABASES]
URL = "/v1/apps/churn/decisions"


async def test_same_key_and_body_replays_the_same_bytes(client: httpx.AsyncClient) -> None:
    body = json.dumps(customer(7)).encode()
    first = await client.post(URL, content=body, headers={"Idempotency-Key": "k-1"})
    again = await client.post(URL, content=body, headers={"Idempotency-Key": "k-1"})
    assert first.status_code == again.status_code == 200
    assert again.content == first.content
    assert again.headers["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first.headers


async def test_batches_replay_too(client: httpx.AsyncClient, store: StoreContract) -> None:
    body = json.dumps({"records": [customer(i) for i in range(5)]}).encode()
    first = await client.post(URL, content=body, headers={"Idempotency-Key": "batch-1"})
    again = await client.post(URL, content=body, headers={"Idempotency-Key": "batch-1"})
    assert again.content == first.content
    assert len(store.list_decisions(DecisionQuery(app="churn")).items) == 5


async def test_same_key_with_another_body_is_a_conflict(client: httpx.AsyncClient) -> None:
    await client.post(URL, json=customer(1), headers={"Idempotency-Key": "k-2"})
    other = await client.post(URL, json=customer(2), headers={"Idempotency-Key": "k-2"})
    assert other.status_code == 422
    assert other.json()["code"] == "idempotency_conflict"


async def test_concurrent_requests_with_one_key_make_one_decision(
    client: httpx.AsyncClient, store: StoreContract
) -> None:
    body = json.dumps(customer(3)).encode()
    responses = await asyncio.gather(
        *(client.post(URL, content=body, headers={"Idempotency-Key": "k-3"}) for _ in range(20))
    )
    assert {r.status_code for r in responses} == {200}
    assert len({r.content for r in responses}) == 1
    assert sum("Idempotent-Replayed" not in r.headers for r in responses) == 1
    assert len(store.list_decisions(DecisionQuery(app="churn", entity_id="C-3")).items) == 1


async def test_a_batch_of_only_bad_records_replays_too(client: httpx.AsyncClient) -> None:
    body = json.dumps({"records": [customer(1, plan="gold")]}).encode()
    first = await client.post(URL, content=body, headers={"Idempotency-Key": "bad-1"})
    again = await client.post(URL, content=body, headers={"Idempotency-Key": "bad-1"})
    assert first.status_code == again.status_code == 200
    assert again.content == first.content and first.json()["decisions"] == []
    assert again.headers["Idempotent-Replayed"] == "true"
