"""Decisions per second of stream consumers reading a pre-filled stream, against the batch
endpoint's path measured in the same run, interleaved with them.

    .venv/bin/python -m bench.bench_streams --messages 3000 --rounds 3 --json streams.json

For each bus (NATS JetStream, Redis Streams, RabbitMQ, MQTT on 127.0.0.1, under names of their
own, removed afterwards — see tests/streams/brokers.py) a consumer
(:class:`~doorstep.services.decide.streams.StreamConsumer`, micro-batches of ``--batch``, no
explanations) decides ``--messages`` messages published beforehand, into a fresh SQLite store;
the clock runs from its first fetch to the last acknowledgement. MQTT reads at most
:data:`MQTT_MESSAGES` (Mosquitto's default ``max_queued_messages`` of 1,000 drops QoS 1
messages beyond it for a session that is behind).

The floor is **the batch endpoint's path**: :func:`~doorstep.services.decide.online.decide_requests`
of requests of 1,000 records each, into a fresh SQLite store — what
``POST /v1/apps/{app}/decisions`` with ``{"records": [...]}`` does, without HTTP and its JSON
(so a stricter floor than the endpoint itself). It runs for at least ``--floor-seconds``,
cycling through the 20,000 benchmark rows. A second floor, **one request per message**, is the
same with one single-record request per message under its idempotency key, ``--batch`` per
call, the keys claimed together and one audit event per call: the consumer's store work
without a bus.

Every round measures both floors, then each bus, in turn; the table shows the best of
``--rounds`` for each (other processes only ever slow a run down), and the ratio of a bus's best
to the batch floor's best. Target: a stream's rate at least 0.5x the batch endpoint's.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

import orjson

from bench.common import DATA_DIR, ensure_app, ensure_rows, machine_info, print_table, write_json

TARGET = 0.5
KINDS = ("nats", "redis", "rabbitmq", "mqtt")
MQTT_MESSAGES = 900
FLOOR_REQUEST = 1000
"""Records per request of the batch floor."""


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=3000)
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--floor-seconds", type=float, default=2.0)
    parser.add_argument("--kinds", default=",".join(KINDS))
    parser.add_argument("--json", type=Path)
    parser.add_argument("--data-dir", type=Path, default=DATA_DIR)
    args = parser.parse_args(argv)

    import polars as pl

    from doorstep.services.apps.loading import load_app

    app = load_app(ensure_app(args.data_dir).spec)
    rows = pl.read_parquet(ensure_rows(20_000, args.data_dir)).to_dicts()
    kinds = [k for k in args.kinds.split(",") if k]
    _floor(app, rows[:FLOOR_REQUEST], per_message=False, batch=args.batch, seconds=0.0)  # warm
    runs: dict[str, list[float]] = {
        "batch_endpoint": [],
        "per_message": [],
        **{k: [] for k in kinds},
    }
    for _ in range(max(1, args.rounds)):
        runs["batch_endpoint"].append(
            _floor(app, rows, per_message=False, batch=args.batch, seconds=args.floor_seconds)
        )
        runs["per_message"].append(
            _floor(app, rows, per_message=True, batch=args.batch, seconds=args.floor_seconds)
        )
        for kind in kinds:
            count = min(args.messages, MQTT_MESSAGES) if kind == "mqtt" else args.messages
            runs[kind].append(_stream(kind, app, rows[:count], batch=args.batch))
    best = {name: max(rates) for name, rates in runs.items()}
    floor = best["batch_endpoint"]
    table = [
        [
            f"floor: batch endpoint path ({FLOOR_REQUEST:,} records/request)",
            _rates(runs["batch_endpoint"]),
            f"{floor:,.0f}",
            "",
        ],
        [
            f"one request per message ({args.batch}/call, no bus)",
            _rates(runs["per_message"]),
            f"{best['per_message']:,.0f}",
            f"{best['per_message'] / floor:.2f}",
        ],
    ]
    for kind in kinds:
        met = "yes" if best[kind] / floor >= TARGET else "no"
        table.append(
            [
                f"stream: {kind}",
                _rates(runs[kind]),
                f"{best[kind]:,.0f}",
                f"{best[kind] / floor:.2f} ({met})",
            ]
        )
    print_table(
        f"decisions/s, no explanations, best of {max(1, args.rounds)} interleaved rounds",
        ["measurement", "each round", "best", "ratio"],
        table,
    )
    results: dict[str, Any] = {
        "machine": machine_info(),
        "messages": args.messages,
        "runs": runs,
        "best": best,
        "ratios": {kind: best[kind] / floor for kind in kinds},
    }
    if args.json:
        write_json(args.json, results)
    return results


def _rates(rates: list[float]) -> str:
    return " / ".join(f"{rate:,.0f}" for rate in rates)


def _fresh_store() -> tuple[Any, Path]:
    from doorstep.store import open_store

    folder = Path(tempfile.mkdtemp(prefix="bench-streams-"))
    return open_store(f"sqlite:///{folder / 'doorstep.db'}"), folder


def _floor(
    app: Any, rows: list[dict[str, Any]], *, per_message: bool, batch: int, seconds: float
) -> float:
    """Records/s of requests cycling through ``rows`` for at least ``seconds`` (at least one
    request), into a fresh store."""
    from doorstep.services.decide.online import OnlineRequest, decide_requests

    store, folder = _fresh_store()
    done = 0
    try:
        start = time.perf_counter()
        while True:
            first = done % len(rows)
            if per_message:
                requests = [
                    OnlineRequest(
                        [record],
                        single=False,
                        actor="bench",
                        explain=False,
                        idempotency_key=f"m-{done + i}",
                        key_owner="stream:bench",
                        body_sha256=str(done + i),
                    )
                    for i, record in enumerate(rows[first : first + batch])
                ]
                decide_requests(app, store, requests, one_event=True)
                done += len(requests)
            else:
                chunk = rows[first : first + FLOOR_REQUEST]
                request = OnlineRequest(chunk, single=False, actor="bench", explain=False)
                decide_requests(app, store, [request])
                done += len(chunk)
            elapsed = time.perf_counter() - start
            if elapsed >= seconds:
                return done / elapsed
    finally:
        store.close()
        shutil.rmtree(folder, ignore_errors=True)


def _stream(kind: str, app: Any, records: list[dict[str, Any]], *, batch: int) -> float:
    from tests.streams.brokers import open_bus

    from doorstep.core.spec.streams import StreamSpec
    from doorstep.plugins import open_stream
    from doorstep.services.decide.streams import StreamConsumer

    opened = open_bus(kind)
    bus = next(opened)
    store, folder = _fresh_store()
    try:
        spec = StreamSpec.model_validate(
            {"source": bus.source, "batch": batch, "wait": 0.5, "explain": False}
        )
        consumer = StreamConsumer(app, store, "bench", spec, open_stream("bench", spec))
        try:
            for i, record in enumerate(records):
                bus.publish(orjson.dumps(record), f"m-{i}")
            received, start = 0, time.perf_counter()
            deadline = start + 600
            while received < len(records) and time.perf_counter() < deadline:
                result = consumer.step()
                if result.failed:
                    raise RuntimeError(result.failed)
                received += result.received
            elapsed = time.perf_counter() - start
        finally:
            consumer.source.close()
        return received / elapsed
    finally:
        store.close()
        shutil.rmtree(folder, ignore_errors=True)
        opened.close()  # removes the bus's names


if __name__ == "__main__":
    main()
