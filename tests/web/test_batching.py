"""Micro-batching: concurrent single-record requests share model calls and transactions."""

from __future__ import annotations

import asyncio
import gc
import threading
import time
from collections.abc import Sequence

import httpx
import pytest
from tests.web.conftest import customer
from tests.web.fakes import FakeStore, as_store

from doorstep.services.apps.registry import Registry
from doorstep.store.protocols import StoreContract
from doorstep.web import ServeSettings, create_app
from doorstep.web.batching import MicroBatcher

pytestmark = pytest.mark.anyio


async def test_concurrent_requests_are_coalesced_and_each_gets_its_own_answer(
    registry: Registry,
) -> None:
    store = FakeStore()
    _, secret = store.create_key("crm", "client", actor="test")
    app = create_app(registry, as_store(store), ServeSettings(max_wait_ms=20, max_batch=64))
    transport = httpx.ASGITransport(app=app)
    headers = {"Authorization": f"Bearer {secret}"}
    records = [customer(i) for i in range(1, 101)]
    records[17]["tenure_months"] = -1
    async with httpx.AsyncClient(transport=transport, base_url="http://t", headers=headers) as c:
        await c.get("/v1/apps")  # cache the key
        responses = await asyncio.gather(
            *(c.post("/v1/apps/churn/decisions", json=r) for r in records)
        )
    await app.state.service.close()
    for record, response in zip(records, responses, strict=True):
        if record["tenure_months"] == -1:
            assert response.status_code == 422
            assert response.json()["errors"][0]["entity_id"] == record["customer_id"]
        else:
            assert response.status_code == 200
            assert response.json()["entity_id"] == record["customer_id"]
    assert len(store.decisions) == 99
    batches = app.state.service.batchers["churn"].batches
    assert batches <= 10 and store.record_calls <= batches, (batches, store.record_calls)


async def test_batches_respect_max_batch_and_run_off_the_event_loop() -> None:
    threads: set[int] = set()
    sizes: list[int] = []

    def run(items: Sequence[int]) -> list[int]:
        threads.add(threading.get_ident())
        sizes.append(len(items))
        time.sleep(0.01)
        return [i * 2 for i in items]

    batcher: MicroBatcher[int, int] = MicroBatcher(run, max_batch=8, max_wait=0.005)
    results = await asyncio.gather(*(batcher.submit(i) for i in range(50)))
    await batcher.close()
    assert results == [i * 2 for i in range(50)]
    assert max(sizes) <= 8 and len(sizes) < 50
    assert threading.get_ident() not in threads


async def test_a_failing_batch_fails_its_requests_only() -> None:
    def run(items: Sequence[int]) -> list[int]:
        if 3 in items:
            raise ValueError("boom")
        return list(items)

    batcher: MicroBatcher[int, int] = MicroBatcher(run, max_batch=1, max_wait=0)
    outcomes = await asyncio.gather(*(batcher.submit(i) for i in range(5)), return_exceptions=True)
    await batcher.close()
    assert [type(o).__name__ for o in outcomes] == ["int", "int", "int", "ValueError", "int"]


async def test_start_up_moves_loaded_objects_out_of_the_collectors_reach(
    registry: Registry, store: StoreContract
) -> None:
    app = create_app(registry, store)
    gc.unfreeze()
    try:
        async with app.router.lifespan_context(app):
            assert gc.get_freeze_count() > 0  # full collections no longer walk the models
    finally:
        gc.unfreeze()


async def test_a_record_that_breaks_the_batch_fails_alone() -> None:
    """A defect one record triggers (not the service's own error) reaches that request only:
    the batch runs again one request at a time."""
    from doorstep.errors import StoreUnavailableError

    calls: list[list[int]] = []

    def run(items: Sequence[int]) -> list[int]:
        calls.append(list(items))
        if 13 in items:
            raise UnicodeEncodeError("utf-8", "\ud800", 0, 1, "surrogates not allowed")
        if 99 in items:
            raise StoreUnavailableError("the store is down")
        return [i * 2 for i in items]

    batcher = MicroBatcher(
        run,
        max_batch=64,
        max_wait=0.02,
        isolate=lambda exc: not isinstance(exc, StoreUnavailableError),
    )
    answers = await asyncio.gather(
        *(batcher.submit(i) for i in range(1, 31)), return_exceptions=True
    )
    await batcher.close()
    assert isinstance(answers[12], UnicodeEncodeError)
    assert [a for i, a in enumerate(answers) if i != 12] == [i * 2 for i in range(1, 31) if i != 13]
    assert len(calls[0]) > 1 and all(len(c) == 1 for c in calls[1:])
    # the service's own errors (the store is down) are the batch's: no request is retried
    batcher = MicroBatcher(run, max_batch=64, max_wait=0.02, isolate=lambda exc: True)
    batcher.isolate = lambda exc: not isinstance(exc, StoreUnavailableError)
    calls.clear()
    down = await asyncio.gather(*(batcher.submit(i) for i in (1, 99, 3)), return_exceptions=True)
    await batcher.close()
    assert all(isinstance(a, StoreUnavailableError) for a in down) and len(calls) == 1
