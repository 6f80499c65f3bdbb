"""End-to-end latency of a stream: a message published on a bus → its decision's action
published on the bus by a bus connector, p50 and p99 at a held rate (200 messages/s by default),
per bus (NATS JetStream, Redis Streams, RabbitMQ, MQTT on 127.0.0.1, under names of their own,
removed afterwards).

    .venv/bin/python -m bench.bench_stream_latency --rate 200 --seconds 10 --repeat 2

1. **doorstep** — what ``doorstep serve --consume`` runs, in-process: the stream's consumer
   under its lease (:func:`~doorstep.runtime.consume_loop.consuming`: micro-batches through the
   one decision path, no explanations, recorded with their deliveries in one SQLite
   transaction, acknowledged) and the dispatcher (:func:`~doorstep.runtime.dispatch_loop.
   delivering`, woken by the consumer's commits) sending every decision's action through the
   bus connector. Every decision acts (one rule, ``score >= 0``; no control group).
2. **floor** — the same source and connector with nothing between them: a loop fetching from
   the source (the same micro-batches), sending each message through the connector, and
   acknowledging — the bus's two hops without the model, the store or the outbox.

A publisher thread holds ``--rate`` messages/s for ``--seconds``, each message stamped when it
is published; a reader on the action's destination stamps each arrival (push subscriptions:
NATS core subscription, Redis ``XREAD BLOCK``, an AMQP consumer, an MQTT subscription). The
first second is warm-up and not counted. Floor and doorstep runs alternate ``--repeat`` times;
the run with the lowest p99 of each counts.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import statistics
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import orjson

from bench.bench_bus import LOOPBACK, destination
from bench.common import DATA_DIR, ensure_app, ensure_rows, machine_info, print_table, write_json

KINDS = ("nats", "redis", "rabbitmq", "mqtt")
WARMUP = 1.0
"""Seconds of messages at the start not counted."""


class Arrivals:
    """Arrival times by entity id, pushed by a reader's thread."""

    def __init__(self) -> None:
        self.seen: dict[str, float] = {}
        self.lock = threading.Lock()

    def add(self, body: bytes) -> None:
        at = time.perf_counter()
        entity = str(orjson.loads(body)["customer"])
        with self.lock:
            self.seen.setdefault(entity, at)

    def count(self) -> int:
        with self.lock:
            return len(self.seen)


@contextmanager
def reader(kind: str, dest: dict[str, Any], arrivals: Arrivals) -> Iterator[None]:
    """Push-read the connector's destination ``dest`` into ``arrivals`` while the block runs."""
    stop = threading.Event()
    ready = threading.Event()

    def nats_reader() -> None:
        import nats

        async def main() -> None:
            client = await nats.connect(dest["url"])

            async def on_message(msg: Any) -> None:
                arrivals.add(msg.data)

            await client.subscribe(dest["subject"].replace("{{ action }}", ">"), cb=on_message)
            await client.flush()
            ready.set()
            while not stop.is_set():
                await asyncio.sleep(0.01)
            await client.close()

        asyncio.run(main())

    def redis_reader() -> None:
        import redis

        client: Any = redis.Redis.from_url(dest["url"])
        last = "0"
        ready.set()
        while not stop.is_set():
            for _, entries in client.xread({dest["stream"]: last}, block=100) or []:
                for entry_id, fields in entries:
                    arrivals.add(fields[b"body"])
                    last = entry_id
        client.close()

    def rabbitmq_reader() -> None:
        import pika

        connection = pika.BlockingConnection(pika.URLParameters(dest["url"]))
        channel = connection.channel()
        ready.set()
        for method, _, body in channel.consume(
            dest["exchange"], auto_ack=True, inactivity_timeout=0.1
        ):
            if method is not None:
                arrivals.add(body)
            if stop.is_set():
                break
        channel.cancel()
        connection.close()

    def mqtt_reader() -> None:
        import paho.mqtt.client as mqtt
        from paho.mqtt.enums import CallbackAPIVersion

        client = mqtt.Client(CallbackAPIVersion.VERSION2)
        client.on_message = lambda _c, _u, msg: arrivals.add(bytes(msg.payload))
        client.on_subscribe = lambda *args: ready.set()
        client.connect("127.0.0.1", 1883)
        client.loop_start()
        client.subscribe(dest["topic"], qos=1)
        stop.wait()
        client.loop_stop()
        client.disconnect()

    readers = {
        "nats": nats_reader,
        "redis": redis_reader,
        "rabbitmq": rabbitmq_reader,
        "mqtt": mqtt_reader,
    }
    thread = threading.Thread(target=readers[kind], daemon=True)
    thread.start()
    if not ready.wait(10):
        raise SystemExit(f"{kind}: the reader did not subscribe")
    try:
        yield
    finally:
        stop.set()
        thread.join(10)


def publish_paced(
    publish: Callable[[bytes, str], None], records: list[dict[str, Any]], rate: float
) -> dict[str, float]:
    """Publish ``records`` at ``rate`` per second; when each was published, by entity id."""
    sent: dict[str, float] = {}
    start = time.perf_counter()
    for i, record in enumerate(records):
        due = start + i / rate
        pause = due - time.perf_counter()
        if pause > 0:
            time.sleep(pause)
        sent[str(record["customer_id"])] = time.perf_counter()
        publish(orjson.dumps(record), f"lat-{i}")
    return sent


def latencies(
    sent: dict[str, float], arrivals: Arrivals, rate: float, timeout: float = 60.0
) -> list[float]:
    """Milliseconds from publication to arrival, warm-up left out; every message must arrive."""
    deadline = time.perf_counter() + timeout
    while arrivals.count() < len(sent) and time.perf_counter() < deadline:
        time.sleep(0.02)
    with arrivals.lock:
        seen = dict(arrivals.seen)
    missing = [e for e in sent if e not in seen]
    if missing:
        raise SystemExit(f"{len(missing)} of {len(sent)} actions never arrived, e.g. {missing[0]}")
    skip = int(WARMUP * rate)
    return [(seen[e] - t) * 1000 for e, t in list(sent.items())[skip:]]


def app_spec(folder: Path, bench_dir: Path, source: dict[str, Any], bus: dict[str, Any]) -> Path:
    """The benchmark app acting on every decision through ``bus``, reading ``source``."""
    from bench.common import spec_text

    text = spec_text()
    text = text.replace("path: model.lgb.txt", f"path: {bench_dir / 'model.lgb.txt'}")
    text = text.replace(
        "reference: reference.parquet", f"reference: {bench_dir / 'reference.parquet'}"
    )
    text = text.replace("for: [all]", "for: [on_demand]")
    policy = text[text.index("policy:") :]
    text = text.replace(
        policy,
        "policy:\n  control_group: 0\n  rules:\n"
        '    - {name: all, when: "score >= 0", action: offer}\n  default: none\n'
        "actions:\n"
        '  offer: {connector: bus, payload: {customer: "{{ entity_id }}"}}\n'
        f"connectors:\n  bus: {json.dumps(bus)}\n"
        f"streams:\n  events: {json.dumps({'source': source, 'explain': False})}\n",
    )
    spec = folder / "doorstep.yaml"
    spec.write_text(text, encoding="utf-8")
    return spec


def run_doorstep(
    kind: str, bench_dir: Path, records: list[dict[str, Any]], rate: float
) -> list[float]:
    from tests.streams.brokers import open_bus

    from doorstep.runtime.consume_loop import consuming
    from doorstep.runtime.dispatch_loop import delivering
    from doorstep.services.apps.loading import load_app
    from doorstep.store import open_store

    opened = open_bus(kind)
    bus = next(opened)
    folder = Path(tempfile.mkdtemp(prefix="bench-latency-"))
    arrivals = Arrivals()
    try:
        with destination(kind) as bare:
            dest = bare | LOOPBACK
            app = load_app(app_spec(folder, bench_dir, bus.source, dest))
            store = open_store(f"sqlite:///{folder / 'doorstep.db'}")
            try:
                with (
                    reader(kind, dest, arrivals),
                    delivering([app], store, concurrency=8) as dispatcher,
                    consuming(
                        [app],
                        store,
                        enabled=True,
                        on_deliveries=None if dispatcher is None else dispatcher.wake,
                    ) as group,
                ):
                    if group is None or not group.consuming.wait(60):
                        raise SystemExit(f"{kind}: the consumer did not start")
                    sent = publish_paced(bus.publish, records, rate)
                    return latencies(sent, arrivals, rate)
            finally:
                store.close()
    finally:
        shutil.rmtree(folder, ignore_errors=True)
        opened.close()


def run_floor(kind: str, records: list[dict[str, Any]], rate: float) -> list[float]:
    from tests.streams.brokers import open_bus

    from doorstep.connectors.base import ConnectorContext, Message
    from doorstep.core.spec.streams import StreamSpec
    from doorstep.ids import new_id
    from doorstep.plugins import connector_factory, open_stream

    opened = open_bus(kind)
    bus = next(opened)
    arrivals = Arrivals()
    try:
        with destination(kind) as bare:
            dest = bare | LOOPBACK
            factory = connector_factory(dest["type"])
            connector = factory.from_spec(
                factory.spec_model.model_validate(dest), ConnectorContext("bus", Path())
            )
            spec = StreamSpec.model_validate({"source": bus.source, "explain": False})
            source = open_stream("events", spec)
            stop = threading.Event()

            def relay() -> None:
                while not stop.is_set():
                    messages = source.fetch(spec.batch, spec.wait)
                    for message in messages:
                        entity = orjson.loads(message.body)["customer_id"]
                        sent = connector.send(
                            Message(
                                id=new_id(),
                                key=f"{entity}:offer",
                                app="bench",
                                action="offer",
                                connector="bus",
                                attempt=1,
                                context={"action": "offer", "entity_id": entity, "app": "bench"},
                                payload={"customer": entity},
                            )  # fmt: skip
                        )
                        if sent.outcome != "delivered":
                            raise SystemExit(f"floor: {sent.outcome}: {sent.detail}")
                    source.ack(messages)

            thread = threading.Thread(target=relay, daemon=True)
            try:
                with reader(kind, dest, arrivals):
                    thread.start()
                    sent = publish_paced(bus.publish, records, rate)
                    return latencies(sent, arrivals, rate)
            finally:
                stop.set()
                thread.join(10)
                source.close()
                connector.close()
    finally:
        opened.close()


def percentile(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=1000, method="inclusive")[int(q * 10) - 1]


def summary(values: list[float]) -> dict[str, float]:
    return {"p50_ms": percentile(values, 50), "p99_ms": percentile(values, 99), "n": len(values)}


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rate", type=float, default=200.0)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--kinds", default=",".join(KINDS))
    parser.add_argument("--json", type=Path)
    parser.add_argument("--data-dir", type=Path, default=DATA_DIR)
    args = parser.parse_args(argv)

    import polars as pl

    bench_app = ensure_app(args.data_dir)
    count = int(args.rate * args.seconds)
    frame = pl.read_parquet(ensure_rows(20_000, args.data_dir)).head(count)
    results: dict[str, Any] = {"machine": machine_info(), "rate": args.rate, "messages": count}
    rows: list[list[str]] = []
    for kind in args.kinds.split(","):
        floors: list[dict[str, float]] = []
        ours: list[dict[str, float]] = []
        for attempt in range(args.repeat):
            # fresh entity ids per run: the reader matches arrivals by them
            records = frame.with_columns(
                pl.format("{}-{}-{}", pl.col("customer_id"), pl.lit(kind), pl.lit(attempt)).alias(
                    "customer_id"
                )
            ).to_dicts()
            floors.append(summary(run_floor(kind, records, args.rate)))
            ours.append(summary(run_doorstep(kind, bench_app.directory, records, args.rate)))
        floor = min(floors, key=lambda s: s["p99_ms"])
        best = min(ours, key=lambda s: s["p99_ms"])
        results[kind] = {
            "floor": floor,
            "doorstep": best,
            "runs": {"floor": floors, "doorstep": ours},
        }
        rows.append(
            [
                kind,
                f"{floor['p50_ms']:.1f} / {floor['p99_ms']:.1f}",
                f"{best['p50_ms']:.1f} / {best['p99_ms']:.1f}",
            ]
        )
        print(
            f"{kind}: floor p50 {floor['p50_ms']:.1f} ms p99 {floor['p99_ms']:.1f} ms; "
            f"doorstep p50 {best['p50_ms']:.1f} ms p99 {best['p99_ms']:.1f} ms",
            flush=True,
        )
    print_table(
        f"publish -> action published, {args.rate:g} messages/s for {args.seconds:g} s "
        f"(p50 / p99, ms; best of {args.repeat})",
        ["bus", "floor: source -> connector", "doorstep: serve --consume + dispatcher"],
        rows,
    )
    if args.json:
        write_json(args.json, results)
    return results


if __name__ == "__main__":
    main()
