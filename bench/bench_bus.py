"""Speed of the bus connectors: deliveries per second that one dispatcher publishes onto each bus
(RabbitMQ, NATS JetStream, Redis Streams, MQTT on 127.0.0.1), against the bus's own ceiling
through the same connector measured in the same run.

    .venv/bin/python -m bench.bench_bus --deliveries 2000 --concurrency 8 --json bus.json
    .venv/bin/python -m bench.bench_bus --kinds nats redis --repeat 3

1. **floor** — the connector's ``send`` called directly from ``--concurrency`` threads, back to
   back, for ``--deliveries`` messages (no store, no claims, no attempt log): what the broker and
   the client library allow, each message acknowledged (confirm, PubAck, ``XADD`` reply,
   PUBACK).
2. **doorstep** — ``--deliveries`` pending deliveries written through the real store (SQLite
   file, decisions and outbox rows in batches of 1,000), then one in-process ``Dispatcher`` with
   ``--concurrency`` sending threads drains them; every delivery must end ``delivered``.

The ratio is doorstep / floor (1.0: the dispatcher costs nothing on top of the bus). Floor and
doorstep runs alternate ``--repeat`` times; the best of each counts. Each run publishes to a
destination of its own (a random suffix), deleted afterwards.
"""

from __future__ import annotations

import argparse
import asyncio
import secrets
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

from bench.common import print_table, write_json
from doorstep.connectors.base import Connector, ConnectorContext, Message
from doorstep.core.spec.loader import parse_spec
from doorstep.ids import new_id
from doorstep.plugins import connector_factory
from doorstep.services.deliver.actions import deliveries_for
from doorstep.services.deliver.connectors import SpecFile, open_app_connectors
from doorstep.services.deliver.dispatcher import Dispatcher
from doorstep.store import RecordRequest, open_store
from doorstep.types import Decision

KINDS = ("rabbitmq", "nats", "redis", "mqtt")
BATCH = 1_000
SPEC = """
app: {name: churn, owner: maria@example.com}
model: {path: model.txt}
inputs:
  id: customer_id
  fields:
    tenure_months: {type: int}
actions:
  retention_offer:
    connector: bus
    payload: {customer: "{{ entity_id }}", score: "{{ score }}", why: "{{ reasons_text }}"}
connectors:
  bus: BUS
"""
REASONS = "Support tickets in the last 30 days: 9 — raises churn risk by 14 points"


@contextmanager
def destination(kind: str) -> Iterator[dict[str, Any]]:
    """A connector spec publishing to a destination of this run's own, deleted afterwards."""
    tag = secrets.token_hex(4)
    if kind == "rabbitmq":
        import pika

        connection = pika.BlockingConnection(pika.URLParameters("amqp://guest:guest@127.0.0.1/"))
        channel = connection.channel()
        name = f"hbench-{tag}"
        channel.exchange_declare(name, "topic")
        channel.queue_declare(name)
        channel.queue_bind(name, name, "#")
        try:
            url = "amqp://guest:guest@127.0.0.1:5672/"
            yield {"type": "rabbitmq", "url": url, "exchange": name}
        finally:
            channel.queue_delete(name)
            channel.exchange_delete(name)
            connection.close()
    elif kind == "nats":
        stream = f"HBENCH_{tag}"

        async def admin(add: bool) -> None:
            import nats

            client = await nats.connect("nats://127.0.0.1:4222")
            js = client.jetstream()
            if add:
                await js.add_stream(name=stream, subjects=[f"hbench.{tag}.>"])
            else:
                await js.delete_stream(stream)
            await client.close()

        asyncio.run(admin(True))
        try:
            yield {
                "type": "nats",
                "url": "nats://127.0.0.1:4222",
                "subject": f"hbench.{tag}.{{{{ action }}}}",
                "stream": stream,
            }
        finally:
            asyncio.run(admin(False))
    elif kind == "redis":
        import redis

        client: Any = redis.Redis.from_url("redis://127.0.0.1:6379/0")
        key = f"hbench:{tag}"
        try:
            yield {"type": "redis", "url": "redis://127.0.0.1:6379/0", "stream": key}
        finally:
            client.delete(key, *client.scan_iter(match=f"{{{key}}}:doorstep-delivery:*"))
            client.close()
    else:
        yield {"type": "mqtt", "url": "mqtt://127.0.0.1:1883", "topic": f"hbench/{tag}/x"}


def decisions(count: int) -> list[Decision]:
    now = datetime.now(UTC)
    return [
        Decision(
            id=new_id(),
            app="churn",
            entity_id=f"C{i:09d}",
            model_version="v1",
            model_hash="f" * 64,
            inputs={"tenure_months": i % 60},
            score=0.8,
            action="retention_offer",
            rule="score >= 0.5",
            review=False,
            control=False,
            status="decided",  # type: ignore[arg-type]
            reasons=[],
            reasons_text=REASONS,
            created_at=now,
        )
        for i in range(count)
    ]


LOOPBACK = {"allow_networks": ["127.0.0.1/32"]}
"""The brokers are on loopback, which the network guard refuses unless it is allowed."""


def run_floor(spec: dict[str, Any], count: int, threads: int) -> float:
    """Messages per second through the connector alone, ``threads`` threads back to back."""
    factory = connector_factory(spec["type"])
    connector: Connector = factory.from_spec(
        factory.spec_model.model_validate(spec), ConnectorContext("bus", Path())
    )
    context = {"action": "retention_offer", "decision_id": "", "entity_id": "C1", "app": "churn"}
    payload = {"customer": "C000000001", "score": 0.8, "why": REASONS}
    ids = iter(range(count))
    lock = threading.Lock()
    failures: list[str] = []

    def work() -> None:
        while True:
            with lock:
                i = next(ids, None)
            if i is None:
                return
            message = Message(
                id=new_id(), key=f"k{i}:retention_offer", app="churn", action="retention_offer",
                connector="bus", attempt=1, context=context, payload=payload,
            )  # fmt: skip
            result = connector.send(message)
            if result.outcome != "delivered":
                failures.append(result.detail)

    workers = [threading.Thread(target=work) for _ in range(threads)]
    started = time.perf_counter()
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    elapsed = time.perf_counter() - started
    connector.close()
    if failures:
        raise SystemExit(f"floor: {len(failures)} sends failed, e.g. {failures[0]}")
    return count / elapsed


def run_doorstep(spec: dict[str, Any], count: int, threads: int) -> float:
    """Deliveries per second that one dispatcher drains from a SQLite store."""
    import json

    doc = parse_spec(SPEC.replace("BUS", json.dumps(spec)), env={})
    with tempfile.TemporaryDirectory() as folder:
        store = open_store(f"sqlite:///{folder}/bench.db")
        try:
            made = decisions(count)
            for start in range(0, count, BATCH):
                chunk = made[start : start + BATCH]
                wanted = deliveries_for(SpecFile(doc, Path(folder)), chunk)
                store.record([RecordRequest(chunk, deliveries=wanted)], actor="bench")
            app = open_app_connectors(SpecFile(doc, Path(folder)))
            with Dispatcher(store, [app], concurrency=threads) as dispatcher:
                started = time.perf_counter()
                done = 0
                while done < count:
                    reports = dispatcher.drain()
                    bad = [r for r in reports if r.state != "delivered"]
                    if bad:
                        raise SystemExit(f"doorstep: {bad[0].state}: {bad[0].detail}")
                    done += len(reports)
                    if not reports:
                        break
                elapsed = time.perf_counter() - started
            if done != count:
                raise SystemExit(f"doorstep: {done} of {count} delivered")
        finally:
            store.close()
    return count / elapsed


def best(runs: list[Callable[[], float]], repeat: int) -> tuple[float, float]:
    results: list[list[float]] = [[] for _ in runs]
    for _ in range(repeat):
        for i, run in enumerate(runs):
            results[i].append(run())
    return max(results[0]), max(results[1])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--kinds", nargs="+", choices=KINDS, default=list(KINDS))
    parser.add_argument("--deliveries", type=int, default=2_000)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    rows: list[list[str]] = []
    figures: dict[str, Any] = {}
    for kind in args.kinds:
        with destination(kind) as bare:
            spec = bare | LOOPBACK
            floor, ours = best(
                [
                    partial(run_floor, spec, args.deliveries, args.concurrency),
                    partial(run_doorstep, spec, args.deliveries, args.concurrency),
                ],
                args.repeat,
            )
        ratio = ours / floor
        figures[kind] = {"floor_per_s": floor, "doorstep_per_s": ours, "ratio": ratio}
        rows.append([kind, f"{floor:,.0f}/s", f"{ours:,.0f}/s", f"{ratio:.2f}"])
        print(f"ratio {kind}_vs_connector: {ratio:.3f}")
    print_table(
        f"bus connectors: {args.deliveries} deliveries, {args.concurrency} threads",
        ["bus", "floor: connector alone", "doorstep: dispatcher from the store", "ratio"],
        rows,
    )
    if args.json is not None:
        write_json(args.json, {"deliveries": args.deliveries, "results": figures})


if __name__ == "__main__":
    main()
