"""``/v1/runs``: a failed scheduled run handed back to the scheduler (``resume``), and the
problems of runs that cannot be resumed."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx
import pytest
import sqlalchemy as sa
from tests.web.conftest import auth

from doorstep.store import Store
from doorstep.store.tables import audit_events

pytestmark = pytest.mark.anyio


def failed_run(store: Store, *, scheduled: bool) -> str:
    slot = datetime(2025, 5, 1, 2, tzinfo=UTC) if scheduled else None
    lease = store.start_run(
        "churn",
        "customer_db",
        runner="a",
        lease_seconds=60,
        schedule="nightly" if scheduled else None,
        slot=slot,
    )
    assert lease is not None and store.finish_run(lease, "failed", "the source was down")
    return lease.run.id


async def test_a_failed_scheduled_run_is_handed_back_to_the_scheduler(
    client: httpx.AsyncClient, store: Store, keys: dict[str, str]
) -> None:
    run_id = failed_run(store, scheduled=True)
    denied = await client.post(f"/v1/runs/{run_id}/resume", headers=auth(keys, "viewer"))
    assert denied.status_code == 403
    answer = await client.post(f"/v1/runs/{run_id}/resume", headers=auth(keys, "owner"))
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["run_id"] == run_id and body["state"] == "running" and body["error"] is None
    assert [r.id for r in store.expired_runs()] == [run_id]  # for the scheduler to take over
    with store.engine.connect() as conn:
        [who] = conn.execute(
            sa.select(audit_events.c.actor).where(audit_events.c.kind == "runs.resumed")
        ).scalars()
    assert who == "key:test-owner"
    again = await client.post(f"/v1/runs/{run_id}/resume")
    assert again.status_code == 200  # still waiting for a runner: the same answer
    assert store.take_over_run(run_id, runner="scheduler", lease_seconds=60) is not None
    held = await client.post(f"/v1/runs/{run_id}/resume")
    assert held.status_code == 409 and held.json()["code"] == "conflict"
    assert "held by scheduler" in held.json()["detail"]
    assert held.headers["content-type"] == "application/problem+json"


async def test_runs_that_cannot_be_resumed_are_problems(
    client: httpx.AsyncClient, store: Store
) -> None:
    by_hand = failed_run(store, scheduled=False)
    answer = await client.post(f"/v1/runs/{by_hand}/resume")
    assert answer.status_code == 409 and answer.json()["code"] == "conflict"
    assert f"doorstep runs resume {by_hand}" in answer.json()["detail"]
    missing = await client.post("/v1/runs/nope/resume")
    assert missing.status_code == 404 and missing.json()["code"] == "not_found"


async def test_a_run_whose_runner_died_is_shown_stale(
    client: httpx.AsyncClient, store: Store
) -> None:
    from datetime import timedelta

    then = datetime.now(UTC) - timedelta(minutes=5)
    lease = store.start_run("churn", "customer_db", runner="w:1", lease_seconds=60, now=then)
    assert lease is not None
    body = (await client.get(f"/v1/runs/{lease.run.id}")).json()
    assert body["state"] == "running" and body["stale"] is True and body["runner"] == "w:1"
    assert body["lease_expires_at"] == (then + timedelta(seconds=60)).isoformat()
    assert "lease expired 4 min ago" in body["state_detail"]
    [listed] = (await client.get("/v1/runs", params={"app": "churn"})).json()["items"]
    assert listed["stale"] is True
    live = store.start_run("churn", "customer_db", runner="w:2", lease_seconds=60)
    assert live is not None
    stale = (await client.get("/v1/runs", params={"state": "stale"})).json()["items"]
    assert [r["run_id"] for r in stale] == [lease.run.id]
