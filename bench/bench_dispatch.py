"""Speed of the outbox: deliveries sent per second by one dispatcher, and the time from a decision's
commit to its webhook's arrival, against a local receiver measured in the same run.

    .venv/bin/python -m bench.bench_dispatch --json dispatch.json
    .venv/bin/python -m bench.bench_dispatch --only throughput --deliveries 20000 --concurrency 32
    .venv/bin/python -m bench.bench_dispatch --only throughput --db postgresql+psycopg://…/bench
    .venv/bin/python -m bench.bench_dispatch --only latency --rate 5 --duration 20

The receiver (``bench/receiver.py``): a bare ASGI app in its own uvicorn process (uvloop,
httptools) on 127.0.0.1 that checks every Standard Webhooks signature, remembers the first arrival
of each ``webhook-id`` and answers 204. The app: the churn example (``ensure_service_app`` of
``bench_service.py``), its ``crm`` webhook connector pointed at the receiver through
``CRM_WEBHOOK_URL`` and ``CRM_WEBHOOK_SECRET`` (a fresh secret per run).

1. **throughput** — ``--deliveries`` pending ``retention_offer`` deliveries written through the
   real store (decisions and outbox rows in batches of 1,000, as the decision service writes
   them; SQLite file unless ``--db``), then one in-process ``Dispatcher`` (``--concurrency``
   sending threads, logging at INFO to a file as ``doorstep worker`` does) runs ``run_forever``
   until the last attempt is recorded. Deliveries per second over that time; the receiver must
   have every key exactly once, signed, and the store every delivery ``delivered``. Target:
   >= 1,000/s. The floor: the receiver's own ceiling, the same receiver saturated by the raw
   client of ``bench/loadgen.py`` (asyncio streams, a few microseconds per request) with as many
   connections as the dispatcher has threads, sending requests of the same size (the same
   rendered payloads, signed, with the headers doorstep sends). For reference also the ceiling
   of a plain ``httpx.Client`` in as many threads, posting the same requests back to back (no
   store, no rendering); doorstep itself posts through httpcore, httpx's transport layer.
2. **latency** — ``doorstep serve`` (subprocess, SQLite, dispatcher in the server) gets one
   decision every ``1 / --rate`` s for ``--duration`` s, each a customer that gets a
   ``retention_offer`` (found beforehand); the time from the HTTP answer (the decision and its
   delivery are committed before it) to the receiver's first arrival of ``{decision_id}:
   retention_offer``, both on ``time.monotonic()``. Target: p50 < 100 ms.

Floor and dispatcher runs alternate ``--repeat`` times; the best of each counts (the median of
the dispatcher runs is printed too).
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import logging
import math
import os
import secrets
import signal
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from bench.bench_service import (
    Server,
    Servers,
    ServiceApp,
    create_key,
    ensure_service_app,
    free_port,
)
from bench.common import DATA_DIR, doorstep_command, machine_info, print_table, write_json
from bench.loadgen import run_closed

PARTS = ("throughput", "latency")
THROUGHPUT_TARGET = 1_000.0
LATENCY_P50_MS = 100.0
APP, ACTION = "churn", "retention_offer"
HOOK_PATH = "/hooks/doorstep"
BATCH = 1_000
REASONS_TEXT = (
    "Support tickets in the last 30 days: 9 — raises churn risk by 14 points; "
    "Months as a customer: 2 — raises churn risk by 9 points; "
    "Contract: monthly — raises churn risk by 6 points"
)


# --- the receiver ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Receiver:
    base: str

    @property
    def url(self) -> str:
        return self.base + HOOK_PATH

    def stats(self) -> dict[str, int]:
        import httpx

        return dict(httpx.get(f"{self.base}/_stats", timeout=10).json())

    def arrivals(self) -> dict[str, float]:
        import httpx

        return dict(httpx.get(f"{self.base}/_arrivals", timeout=30).json())

    def reset(self) -> None:
        import httpx

        httpx.post(f"{self.base}/_reset", timeout=10).raise_for_status()

    def wait_for(self, distinct: int, seconds: float) -> dict[str, int]:
        """Stats once ``distinct`` keys arrived, or after ``seconds``."""
        deadline = time.monotonic() + seconds
        while (stats := self.stats())["distinct"] < distinct and time.monotonic() < deadline:
            time.sleep(0.05)
        return stats


def start_receiver(servers: Servers, secret: str) -> Receiver:
    port = free_port()
    command = [sys.executable, "-m", "uvicorn", "bench.receiver:app", "--port", str(port)]
    command += ["--loop", "uvloop", "--http", "httptools", "--no-access-log"]
    command += ["--log-level", "warning"]
    base = f"http://127.0.0.1:{port}"
    servers.start(
        Server("receiver", base, []), command, f"{base}/_stats", env={"RECEIVER_SECRET": secret}
    )
    return Receiver(base)


def new_secret() -> str:
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


# --- deliveries -----------------------------------------------------------------------------


def decisions(app: ServiceApp, n: int) -> list[Any]:
    """``n`` decided ``retention_offer`` decisions of the churn app, inputs from its customers."""
    from doorstep.ids import new_id
    from doorstep.types import Decision, DecisionStatus, Reason

    now = datetime.now(UTC)
    reasons: list[Reason] = [
        {
            "feature": "support_tickets_30d",
            "label": "Support tickets in the last 30 days",
            "value": "9",
            "contribution": 0.61,
            "effect": 14.2,
            "sentence": REASONS_TEXT.split("; ")[0],
        }
    ]
    out = []
    for i in range(n):
        record = app.records[i % len(app.records)]
        out.append(
            Decision(
                id=new_id(),
                app=APP,
                entity_id=str(record["customer_id"]),
                model_version="1",
                model_hash="f" * 64,
                inputs=record,
                score=0.6 + (i % 400) / 1000,
                action=ACTION,
                rule="high risk",
                review=False,
                control=False,
                status=DecisionStatus.DECIDED,
                reasons=reasons,
                reasons_text=REASONS_TEXT,
                created_at=now,
            )
        )
    return out


def write_spec(app: ServiceApp, work: Path) -> Path:
    """The churn example's spec in ``work``: model, reference and feature table where they are
    cached, the ``callbacks`` file connector writing into ``work`` (not into the cached
    example)."""
    text = (app.directory / "doorstep.yaml").read_text(encoding="utf-8")
    for name in ("model.lgb.txt", "reference.parquet"):
        if text.count(f" {name}") != 1:
            raise RuntimeError(f"could not find {name} in the churn example's spec")
        text = text.replace(f" {name}", f" {(app.directory / name).as_posix()}")
    source = "sqlite:///features.db"  # serve checks its feature source at start-up
    if text.count(source) != 1:
        raise RuntimeError(f"could not find {source} in the churn example's spec")
    text = text.replace(source, f"sqlite:///{(app.directory / 'features.db').as_posix()}")
    spec = work / "doorstep.yaml"
    spec.write_text(text, encoding="utf-8")
    return spec


def open_connectors(spec: Path, env: dict[str, str]) -> Any:
    from doorstep.services.deliver.connectors import read_app_connectors

    (connectors,) = read_app_connectors([spec], env=env)
    return connectors


def seed(store: Any, connectors: Any, app: ServiceApp, n: int) -> None:
    """Write ``n`` decisions and their pending deliveries, in batches, as the service does."""
    from doorstep.services.deliver.actions import deliveries_for
    from doorstep.store import RecordRequest

    busy = {s: c for s, c in store.delivery_counts(APP).items() if s in ("pending", "sending")}
    if any(busy.values()):
        raise RuntimeError(f"the store already has {busy} deliveries of {APP!r}; use an empty one")
    for start in range(0, n, BATCH):
        batch = decisions(app, min(BATCH, n - start))
        outbox = deliveries_for(connectors, batch)
        store.record([RecordRequest(batch, deliveries=outbox)], actor="bench")


def floor_requests(
    app: ServiceApp, connectors: Any, secret: str, n: int
) -> tuple[list[bytes], list[dict[str, str]]]:
    """The bodies and headers doorstep would send for ``n`` new decisions, signed."""
    from doorstep.connectors.http import USER_AGENT, encode_json
    from doorstep.connectors.templates import render_payload
    from doorstep.connectors.webhook import parse_secret, sign
    from doorstep.services.deliver.actions import delivery_context

    key = parse_secret(secret)
    template = connectors.spec.actions[ACTION].payload
    stamp = int(time.time())
    bodies, headers = [], []
    for made in decisions(app, n):
        context = delivery_context(connectors.spec, made, ACTION)
        body = encode_json(render_payload(template, context, where="p"))
        webhook_id = f"{made.id}:{ACTION}"
        bodies.append(body)
        headers.append(
            {
                "accept": "*/*",
                "user-agent": USER_AGENT,
                "webhook-id": webhook_id,
                "webhook-timestamp": str(stamp),
                "webhook-signature": sign([key], webhook_id, stamp, body),
            }
        )
    return bodies, headers


# --- throughput -----------------------------------------------------------------------------


def floor_raw(
    receiver: Receiver, requests: tuple[list[bytes], list[dict[str, str]]], args: Any
) -> dict[str, Any]:
    receiver.reset()
    load = run_closed(
        receiver.url,
        requests[0],
        duration=args.floor_seconds,
        connections=args.concurrency,
        client="raw",
        request_headers=requests[1],
    )
    return {**load.summary(), "receiver": receiver.stats()}


def floor_httpx_threads(
    receiver: Receiver, requests: tuple[list[bytes], list[dict[str, str]]], args: Any
) -> dict[str, Any]:
    """``--concurrency`` threads posting back to back through one ``httpx.Client``."""
    import httpx

    receiver.reset()
    bodies, headers = requests
    ok = [0] * args.concurrency
    limits = httpx.Limits(max_connections=args.concurrency)
    with httpx.Client(limits=limits, timeout=10, headers={"content-type": "application/json"}) as c:

        def run(t: int, deadline: float) -> None:
            i = t
            while time.perf_counter() < deadline:
                n = i % len(bodies)
                if c.post(receiver.url, content=bodies[n], headers=headers[n]).status_code < 300:
                    ok[t] += 1
                i += args.concurrency

        started = time.perf_counter()
        deadline = started + args.floor_seconds
        threads = [threading.Thread(target=run, args=(t, deadline)) for t in range(len(ok))]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        elapsed = time.perf_counter() - started
    return {"ok": sum(ok), "elapsed": elapsed, "achieved_rate": sum(ok) / elapsed}


def dispatch_run(
    app: ServiceApp, receiver: Receiver, env: dict[str, str], url: str, args: Any, work: Path
) -> dict[str, Any]:
    from doorstep.services.deliver.dispatcher import AttemptReport, Dispatcher
    from doorstep.store import open_store

    n = args.deliveries
    connectors = open_connectors(work / "doorstep.yaml", env)
    done = threading.Event()
    outcomes: dict[str, int] = {}
    problems: list[str] = []
    lock = threading.Lock()

    def count(report: AttemptReport, _seconds: float) -> None:
        with lock:
            outcomes[report.outcome] = outcomes.get(report.outcome, 0) + 1
            if report.outcome != "delivered" and len(problems) < 5:
                problems.append(f"{report.key}: {report.outcome}: {report.detail}")
            if sum(outcomes.values()) >= n:
                done.set()

    with open_store(url) as store:
        seeded = time.perf_counter()
        seed(store, connectors, app, n)
        seed_seconds = time.perf_counter() - seeded
        receiver.reset()
        stop = threading.Event()
        with Dispatcher(store, [connectors], concurrency=args.concurrency, on_attempt=count) as d:
            thread = threading.Thread(target=d.run_forever, args=(stop,), daemon=True)
            started = time.perf_counter()
            thread.start()
            finished = done.wait(args.timeout)
            elapsed = time.perf_counter() - started
            stop.set()
            thread.join(timeout=60)
        counts = store.delivery_counts(APP)
    stats = receiver.stats()
    return {
        "deliveries": n,
        "concurrency": args.concurrency,
        "elapsed": elapsed,
        "finished": finished,
        "deliveries_per_second": sum(outcomes.values()) / elapsed,
        "outcomes": outcomes,
        "problems": problems,
        "store_counts": counts,
        "seed_seconds": seed_seconds,
        "receiver": stats,
        "every_key_once": finished
        and stats["distinct"] == n
        and stats["requests"] == n
        and stats["bad_signatures"] == 0
        and outcomes.get("delivered") == n,
    }


def measure_throughput(
    app: ServiceApp, receiver: Receiver, secret: str, args: Any, work: Path
) -> dict[str, Any]:
    env = {**os.environ, "CRM_WEBHOOK_URL": receiver.url, "CRM_WEBHOOK_SECRET": secret}
    connectors = open_connectors(work / "doorstep.yaml", env)
    requests = floor_requests(app, connectors, secret, min(args.deliveries, 20_000))
    connectors.close()
    handler = logging.FileHandler(work / "worker.log")  # what `doorstep worker` logs, to a file
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
    logger = logging.getLogger("doorstep")
    level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    runs: dict[str, list[dict[str, Any]]] = {"raw": [], "httpx": [], "doorstep": []}
    try:
        for rep in range(args.repeat):
            runs["raw"].append(floor_raw(receiver, requests, args))
            runs["httpx"].append(floor_httpx_threads(receiver, requests, args))
            url = args.db or f"sqlite:///{work / f'dispatch-{rep + 1}.db'}"  # a fresh one each
            runs["doorstep"].append(dispatch_run(app, receiver, env, url, args, work))
            raw, via_httpx, ours = (runs[k][-1] for k in ("raw", "httpx", "doorstep"))
            print(
                f"[run {rep + 1}] receiver ceiling (raw client) {raw['achieved_rate']:,.0f} req/s; "
                f"httpx.Client in threads {via_httpx['achieved_rate']:,.0f} req/s; doorstep "
                f"{ours['deliveries_per_second']:,.0f} deliveries/s "
                f"({ours['deliveries']} in {ours['elapsed']:.2f} s, every key once: "
                f"{ours['every_key_once']})"
            )
            for problem in ours["problems"]:
                print(f"  not delivered: {problem}")
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
        handler.close()
    best_raw = max(runs["raw"], key=lambda r: r["achieved_rate"])
    best_httpx = max(runs["httpx"], key=lambda r: r["achieved_rate"])
    best = max(runs["doorstep"], key=lambda r: r["deliveries_per_second"])
    rate = best["deliveries_per_second"]
    per_floor = best_raw["receiver"]["requests"] or 1
    per_ours = best["receiver"]["requests"] or 1
    return {
        "runs": runs,
        "store": "postgresql" if args.db else "sqlite",
        "concurrency": args.concurrency,
        "deliveries": args.deliveries,
        "deliveries_per_second": rate,
        "median_deliveries_per_second": float(
            np.median([r["deliveries_per_second"] for r in runs["doorstep"]])
        ),
        "floor_rate": best_raw["achieved_rate"],
        "httpx_rate": best_httpx["achieved_rate"],
        "ratio_vs_receiver": rate / best_raw["achieved_rate"],
        "ratio_vs_httpx": rate / best_httpx["achieved_rate"],
        "request_bytes": {
            "floor": (best_raw["receiver"]["head_bytes"] + best_raw["receiver"]["body_bytes"])
            / per_floor,
            "doorstep": (best["receiver"]["head_bytes"] + best["receiver"]["body_bytes"])
            / per_ours,
        },
        "every_key_once": all(r["every_key_once"] for r in runs["doorstep"]),
        "met": all(r["every_key_once"] for r in runs["doorstep"]) and rate >= THROUGHPUT_TARGET,
    }


# --- latency --------------------------------------------------------------------------------


def measure_latency(
    app: ServiceApp, servers: Servers, receiver: Receiver, secret: str, args: Any, work: Path
) -> dict[str, Any]:
    import httpx

    db = f"sqlite:///{work / 'latency.db'}"
    key = create_key(db)
    port = free_port()
    spec = work / "doorstep.yaml"
    command = [*doorstep_command(), "serve", str(spec), "--port", str(port), "--db", db]
    base = f"http://127.0.0.1:{port}"
    env = {"CRM_WEBHOOK_URL": receiver.url, "CRM_WEBHOOK_SECRET": secret}
    servers.start(Server("doorstep-latency", base, []), command, f"{base}/readyz", env=env)
    decide = f"{base}/v1/apps/{APP}/decisions"
    with httpx.Client(headers={"authorization": f"Bearer {key}"}, timeout=30) as client:
        chosen: list[dict[str, Any]] = []
        for record in app.records:  # customers that get a retention offer (also a warm-up)
            answer = client.post(decide, json=record).json()
            if answer.get("action") == ACTION and answer.get("status") == "decided":
                chosen.append(record)
                if len(chosen) >= args.screen:
                    break
        if not chosen:
            raise RuntimeError(f"no customer of the churn example got {ACTION!r}")
        receiver.wait_for(len(chosen), 10)
        time.sleep(0.5)  # the warm-up's last deliveries
        receiver.reset()
        answered: dict[str, float] = {}
        posts: list[float] = []
        total = max(1, int(args.rate * args.duration))
        start = time.monotonic() + 0.1
        for i in range(total):
            delay = start + i / args.rate - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            sent = time.monotonic()
            response = client.post(decide, json=chosen[i % len(chosen)])
            now = time.monotonic()
            body = response.json()
            if response.status_code != 200 or body.get("action") != ACTION:
                raise RuntimeError(f"expected a {ACTION!r}, got {response.status_code}: {body}")
            answered[str(body["decision_id"])] = now
            posts.append((now - sent) * 1000)
    stats = receiver.wait_for(len(answered), 10)
    arrivals = receiver.arrivals()
    latencies = [
        (arrivals[f"{decision}:{ACTION}"] - at) * 1000
        for decision, at in answered.items()
        if f"{decision}:{ACTION}" in arrivals
    ]
    values = np.asarray(latencies) if latencies else np.asarray([math.nan])
    p50, p90, p99 = (float(np.percentile(values, q)) for q in (50, 90, 99))
    return {
        "rate": args.rate,
        "duration": args.duration,
        "decisions": len(answered),
        "arrived": len(latencies),
        "missing": len(answered) - len(latencies),
        "receiver": stats,
        "p50_ms": p50,
        "p90_ms": p90,
        "p99_ms": p99,
        "max_ms": float(np.max(values)),
        "min_ms": float(np.min(values)),
        "decision_post_p50_ms": float(np.percentile(posts, 50)),
        "met": len(latencies) == len(answered) and p50 < LATENCY_P50_MS,
    }


# --- report ---------------------------------------------------------------------------------


def report(results: dict[str, Any]) -> None:
    rows: list[list[str]] = []
    ratios: dict[str, float] = {}
    put = results.get("throughput")
    if put:
        store, conc = put["store"], put["concurrency"]
        size = put["request_bytes"]
        rows.append(
            [
                f"floor: receiver ceiling, raw client, {conc} connections",
                f"{put['floor_rate']:,.0f} req/s ({size['floor']:.0f} B/request)",
                "",
                "",
                "",
            ]
        )
        rows.append(
            [
                f"reference: httpx.Client in {conc} threads",
                f"{put['httpx_rate']:,.0f} req/s",
                "",
                "",
                "",
            ]
        )
        rows.append(
            [
                f"doorstep: one dispatcher, {conc} threads, "
                f"{put['deliveries']:,} deliveries, {store}",
                f"{put['deliveries_per_second']:,.0f} deliveries/s (median of "
                f"{len(put['runs']['doorstep'])}: {put['median_deliveries_per_second']:,.0f}; "
                f"{size['doorstep']:.0f} B/request; every key once: {put['every_key_once']})",
                f"{put['ratio_vs_receiver']:.3f} (httpx {put['ratio_vs_httpx']:.2f})",
                "≥ 1,000/s",
                "yes" if put["met"] else "no",
            ]
        )
        ratios["dispatch_vs_receiver"] = put["ratio_vs_receiver"]
        ratios["dispatch_vs_httpx_threads"] = put["ratio_vs_httpx"]
        ratios["deliveries_per_second"] = put["deliveries_per_second"]
        ratios["deliveries_per_second_median"] = put["median_deliveries_per_second"]
    lat = results.get("latency")
    if lat:
        rows.append(
            [
                f"latency: decision answered → webhook arrived, {lat['rate']:g}/s for "
                f"{lat['duration']:g} s",
                f"p50 {lat['p50_ms']:.1f} ms; p90 {lat['p90_ms']:.1f} ms; p99 "
                f"{lat['p99_ms']:.1f} ms; max {lat['max_ms']:.1f} ms "
                f"({lat['arrived']}/{lat['decisions']} arrived)",
                "",
                "p50 < 100 ms",
                "yes" if lat["met"] else "no",
            ]
        )
        ratios["latency_p50_ms"] = lat["p50_ms"]
        ratios["latency_p99_ms"] = lat["p99_ms"]
    print_table("Deliveries", ["measurement", "figure", "ratio", "target", "met"], rows)
    for name, value in ratios.items():
        print(f"ratio {name}: {value:.4g}")
    results["ratios"] = ratios


# --- main -----------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--only", default=",".join(PARTS), help=f"parts: {','.join(PARTS)}")
    parser.add_argument("--deliveries", type=int, default=10_000)
    parser.add_argument("--concurrency", type=int, default=32, help="the dispatcher's threads")
    parser.add_argument("--floor-seconds", type=float, default=3.0)
    parser.add_argument("--db", help="PostgreSQL URL for the throughput part (default: SQLite)")
    parser.add_argument("--timeout", type=float, default=120.0, help="longest dispatch run, s")
    parser.add_argument("--rate", type=float, default=5.0, help="latency: decisions/s")
    parser.add_argument("--duration", type=float, default=20.0, help="latency: seconds")
    parser.add_argument("--screen", type=int, default=20, help="latency: customers to cycle")
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--trees", type=int, default=200)
    parser.add_argument("--data-dir", type=Path, default=DATA_DIR)
    parser.add_argument("--keep", type=Path, help="keep logs and stores in this folder")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # stop the servers on SIGTERM too
    parts = {p.strip() for p in args.only.split(",") if p.strip()}
    if unknown := parts - set(PARTS):
        parser.error(f"unknown parts {sorted(unknown)}; choose from {','.join(PARTS)}")

    app = ensure_service_app(args.data_dir, trees=args.trees)
    results: dict[str, Any] = {
        "machine": machine_info(),
        "args": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
    }
    secret = new_secret()
    work_context: Any = (
        contextlib.nullcontext(str(args.keep))
        if args.keep
        else tempfile.TemporaryDirectory(prefix="bench-dispatch-")
    )
    with work_context as folder, Servers(Path(folder)) as servers:
        work = Path(folder)
        work.mkdir(parents=True, exist_ok=True)
        write_spec(app, work)
        receiver = start_receiver(servers, secret)
        if "throughput" in parts:
            results["throughput"] = measure_throughput(app, receiver, secret, args, work)
        if "latency" in parts:
            results["latency"] = measure_latency(app, servers, receiver, secret, args, work)
    report(results)
    if args.json:
        write_json(args.json, results)


if __name__ == "__main__":
    main()
