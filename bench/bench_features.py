"""Features looked up by entity id: what a SQL source on PostgreSQL adds to a decision's latency.

Two servers decide the same customers of the churn example, one after the other, each under the
same open-loop load (``--rate`` requests/s for ``--duration`` s, latency from each request's
intended send time):

- **inline**: every request carries the customer's inputs (the spec has no ``features``);
- **sql**: every request carries only ``customer_id``; the inputs come from a PostgreSQL table
  (``features: {type: sql, table: ...}``), looked up once per micro-batch.

The target: p99 of ``sql`` at most 5 ms above ``inline`` at 200 requests/s. The runs alternate
(``--repeat``) and the median of each side's p99 is compared. On a shared machine the HTTP
figures swing by tens of milliseconds, so the same comparison also runs in process, without HTTP:
micro-batches of 3 requests through ``decide_requests``, inline and looked up, alternating, and the
lookup alone. Then 1,000 entities are looked up in one round trip: the statements the source's
engine ran are counted (must be 1), and the best time of ``--repeat`` lookups is printed.

PostgreSQL: a throwaway cluster on a free port (as the tests start one), or ``--pg-url``.

    python -m bench.bench_features                       # 200/s, 20 s, 3 rounds
    python -m bench.bench_features --rate 50 --duration 2 --repeat 1 --trees 20   # smoke
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import sqlalchemy as sa

from bench.bench_service import Servers, start_doorstep
from bench.common import machine_info, print_table, write_json
from bench.loadgen import run_open

P99_DELTA_TARGET_MS = 5.0
TABLE = "customer_features"


def _spec(app_dir: Path, features_url: str | None) -> Path:
    """The example's spec without its SQLite source and schedule; with ``features_url``, the
    customers come from the PostgreSQL table."""
    text = (app_dir / "doorstep.yaml").read_text()
    head, rest = text[: text.index("features:")], text[text.index("connectors:") :]
    section = ""
    if features_url is not None:
        section = (
            "features:\n  customer_db:\n    type: sql\n"
            f'    url: "{features_url}"\n    table: {TABLE}\n    observed_at: updated_at\n'
            "    timeout: 2\n    pool_size: 4\n\n"
        )
    path = app_dir / ("doorstep.sql.yaml" if features_url else "doorstep.inline.yaml")
    path.write_text(head + section + rest)
    return path


def _load_table(url: str, customers: list[dict[str, Any]]) -> None:
    engine = sa.create_engine(url)
    meta = sa.MetaData()
    columns = [sa.Column("customer_id", sa.String(32), primary_key=True)]
    for name, value in customers[0].items():
        if name == "customer_id":
            continue
        kind: Any = sa.Integer if isinstance(value, int) else sa.Float
        if isinstance(value, bool):
            kind = sa.Boolean
        elif isinstance(value, str):
            kind = sa.String(200)
        columns.append(sa.Column(name, kind, nullable=True))
    table = sa.Table(TABLE, meta, *columns, sa.Column("updated_at", sa.DateTime(timezone=True)))
    meta.drop_all(engine)
    meta.create_all(engine)
    now = datetime.now(UTC)
    with engine.begin() as conn:
        conn.execute(table.insert(), [{**c, "updated_at": now} for c in customers])
    engine.dispose()


def _customers(app_dir: Path) -> list[dict[str, Any]]:
    import polars as pl

    frame = pl.read_parquet(app_dir / "customers.parquet")
    return [{k: v for k, v in row.items()} for row in frame.iter_rows(named=True)]


def _held(
    servers: Servers, name: str, spec: Path, bodies: list[bytes], args: Any, work: Path
) -> Any:
    server = start_doorstep(servers, name, spec, bodies, workers=1, work=work)
    run_open(server.url, bodies, rate=args.rate, duration=min(3.0, args.duration),
             headers=server.headers, client=args.client)  # fmt: skip
    result = run_open(
        server.url,
        bodies,
        rate=args.rate,
        duration=args.duration,
        headers=server.headers,
        client=args.client,
    )
    print(f"  {name}: {result.line()}")
    return result


def measure_latency(app_dir: Path, pg_url: str, args: Any, work: Path) -> dict[str, Any]:
    customers = _customers(app_dir)
    inline_bodies = [orjson.dumps({k: v for k, v in c.items() if v is not None}) for c in customers]
    id_bodies = [orjson.dumps({"customer_id": c["customer_id"]}) for c in customers]
    inline_spec, sql_spec = _spec(app_dir, None), _spec(app_dir, pg_url)
    inline_p99: list[float] = []
    sql_p99: list[float] = []
    rounds: list[dict[str, Any]] = []
    for i in range(args.repeat):
        results: dict[str, Any] = {}
        order = ["inline", "sql"] if i % 2 == 0 else ["sql", "inline"]  # alternate: fair to both
        for side in order:
            spec, bodies = (
                (inline_spec, inline_bodies) if side == "inline" else (sql_spec, id_bodies)
            )
            with Servers(work) as servers:
                results[side] = _held(servers, f"{side}-{i}", spec, bodies, args, work)
        inline, sql = results["inline"], results["sql"]
        if inline.errors or sql.errors:
            raise RuntimeError(
                f"errors under load: inline {inline.error_samples}, sql {sql.error_samples}"
            )
        inline_p99.append(inline.percentile(99))
        sql_p99.append(sql.percentile(99))
        rounds.append({"inline": inline.summary(), "sql": sql.summary()})
    delta = statistics.median(sql_p99) - statistics.median(inline_p99)
    return {
        "rate": args.rate,
        "duration": args.duration,
        "inline_p99_ms": statistics.median(inline_p99),
        "sql_p99_ms": statistics.median(sql_p99),
        "inline_p50_ms": statistics.median(r["inline"]["p50_ms"] for r in rounds),
        "sql_p50_ms": statistics.median(r["sql"]["p50_ms"] for r in rounds),
        "p99_delta_ms": delta,
        "met": delta <= P99_DELTA_TARGET_MS,
        "rounds": rounds,
    }


def measure_round_trip(app_dir: Path, pg_url: str, repeat: int) -> dict[str, Any]:
    from doorstep.services.apps.loading import read_spec
    from doorstep.services.decide.features import FeatureLookup
    from doorstep.sources.sql import SQLFeatureSource

    doc = read_spec(app_dir / "doorstep.sql.yaml")
    lookup = FeatureLookup.open(doc.spec, app_dir)
    assert lookup is not None
    source = lookup.source("customer_db")
    assert isinstance(source, SQLFeatureSource)
    ids = [c["customer_id"] for c in _customers(app_dir)][:1000]
    statements: list[str] = []
    sa.event.listen(
        source.engine, "before_cursor_execute", lambda *a: statements.append(a[2]), retval=False
    )
    best = float("inf")
    for _ in range(max(repeat, 3)):
        statements.clear()
        started = time.perf_counter()
        result = lookup.enrich([{"customer_id": i} for i in ids])
        best = min(best, time.perf_counter() - started)
        lookups = [s for s in statements if TABLE in s]
        if len(lookups) != 1 or result.errors or result.failed:
            raise RuntimeError(f"expected one statement and no errors, got {len(lookups)}")
    lookup.close()
    return {"entities": len(ids), "statements": 1, "best_ms": best * 1000}


def measure_in_process(app_dir: Path, pg_url: str, batches: int) -> dict[str, Any]:
    """Micro-batches of 3 single-record requests through ``decide_requests`` on a SQLite store,
    inline and looked up, alternating: what the lookup adds per micro-batch, without HTTP."""
    import numpy as np

    from doorstep.services.apps.loading import load_app
    from doorstep.services.decide.features import FeatureLookup
    from doorstep.services.decide.online import OnlineRequest, decide_requests
    from doorstep.store import open_store

    customers = _customers(app_dir)
    inline_app = load_app(app_dir / "doorstep.inline.yaml")
    sql_app = load_app(app_dir / "doorstep.sql.yaml")
    lookup = FeatureLookup.open(sql_app.spec, sql_app.root)
    assert lookup is not None
    times: dict[str, list[float]] = {"inline": [], "sql": [], "lookup": []}
    with tempfile.TemporaryDirectory() as tmp, open_store(f"sqlite:///{tmp}/s.db") as store:
        for k in range(batches):
            chosen = [customers[(3 * k + j) % len(customers)] for j in range(3)]
            full = [{a: v for a, v in c.items() if v is not None} for c in chosen]
            ids = [{"customer_id": c["customer_id"]} for c in chosen]
            for side in ("inline", "sql") if k % 2 == 0 else ("sql", "inline"):
                requests = [
                    OnlineRequest([r], single=True, actor="bench")
                    for r in (full if side == "inline" else ids)
                ]
                started = time.perf_counter()
                decide_requests(
                    inline_app if side == "inline" else sql_app,
                    store,
                    requests,
                    features=None if side == "inline" else lookup,
                )
                times[side].append((time.perf_counter() - started) * 1000)
            started = time.perf_counter()
            lookup.enrich(ids)
            times["lookup"].append((time.perf_counter() - started) * 1000)
    lookup.close()
    warm = {k: np.asarray(v[batches // 10 :]) for k, v in times.items()}
    return {
        f"{k}_{q}_ms": float(np.percentile(v, 50 if q == "p50" else 99))
        for k, v in warm.items()
        for q in ("p50", "p99")
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=200)
    parser.add_argument("--duration", type=float, default=20)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--trees", type=int, default=200)
    parser.add_argument("--customers", type=int, default=5000)
    parser.add_argument("--client", default="raw")
    parser.add_argument("--batches", type=int, default=2000, help="in-process micro-batches")
    parser.add_argument("--pg-url", help="PostgreSQL to hold the feature table (default: own)")
    parser.add_argument("--data-dir", type=Path, default=None)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args(argv)
    from doorstep.examples.churn import write_example

    with tempfile.TemporaryDirectory(prefix="doorstep-bench-features-") as tmp:
        work = Path(tmp)
        app_dir = (args.data_dir or work) / f"churn-{args.trees}-{args.customers}"
        if not (app_dir / "doorstep.yaml").exists():
            write_example(app_dir, trees=args.trees, customers=args.customers)
        cluster = None
        pg_url = args.pg_url
        if pg_url is None:
            sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
            from tests.fixtures_db import PostgresCluster

            cluster = PostgresCluster.start()
            pg_url = cluster.url(cluster.create_database())
        try:
            _load_table(pg_url, _customers(app_dir))
            latency = measure_latency(app_dir, pg_url, args, work)
            round_trip = measure_round_trip(app_dir, pg_url, args.repeat)
            in_process = measure_in_process(app_dir, pg_url, args.batches)
        finally:
            if cluster is not None:
                cluster.stop()
    print_table(
        f"Decisions by customer id (SQL source on PostgreSQL) at {args.rate:.0f} requests/s",
        ["", "inline features", "looked up by id", "difference", "target"],
        [
            [
                "p50 ms",
                f"{latency['inline_p50_ms']:.2f}",
                f"{latency['sql_p50_ms']:.2f}",
                f"{latency['sql_p50_ms'] - latency['inline_p50_ms']:+.2f}",
                "",
            ],
            [
                "p99 ms",
                f"{latency['inline_p99_ms']:.2f}",
                f"{latency['sql_p99_ms']:.2f}",
                f"{latency['p99_delta_ms']:+.2f}",
                f"<= +{P99_DELTA_TARGET_MS:g} ({'met' if latency['met'] else 'MISSED'})",
            ],
        ],
    )
    print_table(
        "In process: a micro-batch of 3 requests (decide + record), and the lookup alone",
        ["", "inline", "looked up", "difference", "lookup alone"],
        [
            [
                q,
                f"{in_process[f'inline_{q}_ms']:.2f}",
                f"{in_process[f'sql_{q}_ms']:.2f}",
                f"{in_process[f'sql_{q}_ms'] - in_process[f'inline_{q}_ms']:+.2f}",
                f"{in_process[f'lookup_{q}_ms']:.2f}",
            ]
            for q in ("p50", "p99")
        ],
    )
    print(
        f"1,000 entities: {round_trip['statements']} statement, best {round_trip['best_ms']:.1f} ms"
    )
    if args.json is not None:
        write_json(
            args.json,
            {
                "machine": machine_info(),
                "latency": latency,
                "in_process": in_process,
                "round_trip": round_trip,
            },
        )


if __name__ == "__main__":
    main()
