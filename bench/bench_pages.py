"""The review page with many decisions in the store: p95 of ``GET /review`` (a signed-in
reviewer, the first page of the pending queue) against a floor measured in the same run, the
p95 of ``GET /healthz`` (the same app and transport, no store read).

    .venv/bin/python -m bench.bench_pages --decisions 100000

Decisions are written straight into a SQLite store (10% pending review), the app is the
example churn app; requests go through the ASGI app in-process (no network), one at a time.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx

from doorstep.examples.churn import write_example
from doorstep.ids import new_id
from doorstep.services.apps.registry import load_registry
from doorstep.store import RecordRequest, open_store
from doorstep.types import Decision, DecisionStatus
from doorstep.web import ServeSettings, create_app


def seed(store: object, count: int) -> None:
    now = datetime.now(UTC)
    batch: list[Decision] = []
    for i in range(count):
        pending = i % 10 == 0
        batch.append(
            Decision(
                id=new_id(), app="churn", entity_id=f"C-{i}", model_version="v1",
                model_hash="sha256:" + "0" * 64, inputs={"tenure_months": i % 60},
                score=(i % 1000) / 1000, action="retention_offer", rule="borderline",
                review=pending, control=False,
                status=DecisionStatus.PENDING_REVIEW if pending else DecisionStatus.DECIDED,
                reasons=None,
                reasons_text=None, created_at=now - timedelta(seconds=count - i),
            )
        )  # fmt: skip
        if len(batch) == 5000:
            store.record([RecordRequest(batch)], actor="bench")  # type: ignore[attr-defined]
            batch = []
    if batch:
        store.record([RecordRequest(batch)], actor="bench")  # type: ignore[attr-defined]


def p95(samples: list[float]) -> float:
    return statistics.quantiles(samples, n=20)[-1]


async def measure(app: object, secret: str, requests: int) -> tuple[float, float]:
    transport = httpx.ASGITransport(app=app)  # type: ignore[arg-type]
    async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
        token = re.search(r'name="csrf_token" value="([^"]+)"', (await client.get("/sign-in")).text)
        assert token is not None
        await client.post("/sign-in", data={"csrf_token": token.group(1), "key": secret})
        timings: dict[str, list[float]] = {"/review": [], "/healthz": []}
        for _ in range(requests):
            for path, samples in timings.items():
                started = time.perf_counter()
                answer = await client.get(path)
                samples.append(time.perf_counter() - started)
                assert answer.status_code == 200, (path, answer.status_code)
    return p95(timings["/review"]), p95(timings["/healthz"])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--decisions", type=int, default=100_000)
    parser.add_argument("--requests", type=int, default=300)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        write_example(root / "churn", rows=2000, trees=20, customers=100)
        registry = load_registry([root / "churn" / "doorstep.yaml"])
        store = open_store(f"sqlite:///{root / 'doorstep.db'}")
        started = time.perf_counter()
        seed(store, args.decisions)
        print(f"seeded {args.decisions} decisions in {time.perf_counter() - started:.1f} s")
        _, secret = store.create_key("bench", "reviewer", actor="bench")
        app = create_app(registry, store, ServeSettings(home=folder, deliver=False))
        review, floor = asyncio.run(measure(app, secret, args.requests))
        store.close()
    print(f"GET /review p95 {review * 1000:.1f} ms (target 50 ms)")
    print(f"GET /healthz p95 {floor * 1000:.2f} ms (floor, same app and transport)")
    print(f"ratio review/floor {review / floor:.1f}x")


if __name__ == "__main__":
    main()
