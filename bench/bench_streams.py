"""Decisions per second of stream consumers reading a pre-filled stream, against the batch
endpoint's path measured in the same run.

    .venv/bin/python -m bench.bench_streams --messages 3000 --json streams.json

For each bus (NATS JetStream, Redis Streams, RabbitMQ, MQTT on 127.0.0.1, under names of their
own, removed afterwards — see tests/streams/brokers.py) a consumer
(:class:`~doorstep.services.decide.streams.StreamConsumer`, micro-batches of ``--batch``, no
explanations) decides ``--messages`` messages published beforehand, into a fresh SQLite store;
the clock runs from its first fetch to the last acknowledgement. Two floors on the same records
and app, in the same run:

- **batch endpoint**: :func:`~doorstep.services.decide.online.decide_requests` of requests of
  1,000 records each — what ``POST /v1/apps/{app}/decisions`` with ``{"records": [...]}`` does,
  without HTTP (so a stricter floor than the endpoint itself);
- **one request per message**: the same, with one single-record request per message under its
  idempotency key, ``--batch`` per call, the keys claimed together and one audit event per call
  — the consumer's store work without a bus.

Target: a stream's rate at least 0.5x the batch endpoint's.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson

from bench.common import DATA_DIR, ensure_app, ensure_rows, machine_info, print_table, write_json

if TYPE_CHECKING:
    pass

TARGET = 0.5
KINDS = ("nats", "redis", "rabbitmq", "mqtt")


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=3000)
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--kinds", default=",".join(KINDS))
    parser.add_argument("--json", type=Path)
    parser.add_argument("--data-dir", type=Path, default=DATA_DIR)
    args = parser.parse_args(argv)

    import polars as pl

    from doorstep.services.apps.loading import load_app

    bench_app = ensure_app(args.data_dir)
    app = load_app(bench_app.spec)
    frame = pl.read_parquet(ensure_rows(20_000, args.data_dir)).head(args.messages)
    records = frame.to_dicts()
    results: dict[str, Any] = {"machine": machine_info(), "messages": len(records)}
    results["batch_endpoint"] = _floor(app, records, per_message=False, batch=args.batch)
    results["per_message"] = _floor(app, records, per_message=True, batch=args.batch)
    floor = results["batch_endpoint"]
    rows = [
        ["batch endpoint path (1,000 records/request)", f"{floor:,.0f}", ""],
        [
            f"one request per message ({args.batch}/call)",
            f"{results['per_message']:,.0f}",
            f"{results['per_message'] / floor:.2f}",
        ],
    ]
    for kind in args.kinds.split(","):
        rate = _stream(kind, app, records, batch=args.batch)
        results[kind] = rate
        met = "yes" if rate / floor >= TARGET else "no"
        rows.append([f"stream: {kind}", f"{rate:,.0f}", f"{rate / floor:.2f} ({met})"])
    print_table("decisions/s, no explanations", ["measurement", "decisions/s", "ratio"], rows)
    if args.json:
        write_json(args.json, results)
    return results


def _fresh_store() -> tuple[Any, Path]:
    from doorstep.store import open_store

    folder = Path(tempfile.mkdtemp(prefix="bench-streams-"))
    return open_store(f"sqlite:///{folder / 'doorstep.db'}"), folder


def _floor(app: Any, records: list[dict[str, Any]], *, per_message: bool, batch: int) -> float:
    from doorstep.services.decide.online import OnlineRequest, decide_requests

    store, folder = _fresh_store()
    try:
        start = time.perf_counter()
        if per_message:
            for first in range(0, len(records), batch):
                requests = [
                    OnlineRequest(
                        [record],
                        single=False,
                        actor="bench",
                        explain=False,
                        idempotency_key=f"m-{first + i}",
                        key_owner="stream:bench",
                        body_sha256=str(first + i),
                    )
                    for i, record in enumerate(records[first : first + batch])
                ]
                decide_requests(app, store, requests, one_event=True)
        else:
            for first in range(0, len(records), 1000):
                chunk = records[first : first + 1000]
                request = OnlineRequest(chunk, single=False, actor="bench", explain=False)
                decide_requests(app, store, [request])
        return len(records) / (time.perf_counter() - start)
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
