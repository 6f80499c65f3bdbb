"""Recorded decisions per second of ``doorstep score FILE --record`` on SQLite, against floors
measured in the same run.

    .venv/bin/python -m bench.bench_record --rows 200000 --repeat 3 --json record.json

doorstep records a file as a run (:func:`~doorstep.services.runs.file_runs.record_file`): each
chunk decided, turned into decisions with reasons and lineage, and committed with its
checkpoint in one transaction (``synchronous=FULL``). Two floors, on the same file and app:

- **score**: ``score_file`` to Parquet — the same decisions, written to a file instead of the
  store (what recording adds is the difference);
- **store**: ``Store.record`` of the same decisions built beforehand, one request per 10,000 —
  the store's own cost of writing them (one audit event, one insert, one commit per request).

``doorstep decisions import`` of the same rows with a decision time column
(:func:`~doorstep.services.runs.imports.import_file`) is timed alongside: the same path, plus
reading the times and keys and deriving each id from its key.

``--postgres URL`` records into PostgreSQL instead: each run gets a new database on the server
``URL`` names (created there and dropped at the end); use a throwaway cluster, never a shared one.

No reasons (``--no-explain``): explanations cost the same in both paths and would hide the
store. Every measurement starts from an empty store, runs ``--repeat`` times interleaved, and
the best run counts. Target: at least 20,000 recorded decisions per second.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.bench_score import round_robin
from bench.common import DATA_DIR, ensure_app, ensure_rows, machine_info, print_table, write_json

TARGET = 20_000.0
"""Recorded decisions per second, at least."""
STORE_CHUNK = 10_000


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=200_000, help="rows of the file")
    parser.add_argument("--repeat", type=int, default=3, help="runs per measurement (best counts)")
    parser.add_argument("--chunk-rows", type=int, default=10_000, help="rows per chunk")
    parser.add_argument("--json", type=Path, help="write the results here")
    parser.add_argument(
        "--postgres",
        metavar="URL",
        help="record into new databases on this PostgreSQL server instead of SQLite files",
    )
    parser.add_argument("--data-dir", type=Path, default=DATA_DIR)
    parser.add_argument("--train-rows", type=int, default=50_000)
    parser.add_argument("--trees", type=int, default=200)
    args = parser.parse_args(argv)

    from doorstep.services.apps.loading import load_app
    from doorstep.services.decide.batch import decide_batch
    from doorstep.services.decide.recording import record_batch
    from doorstep.services.runs.file_runs import record_file
    from doorstep.services.runs.files import score_file
    from doorstep.services.runs.imports import ImportColumns, import_file
    from doorstep.store import RecordRequest, open_store
    from doorstep.store.protocols import DecisionQuery

    bench_app = ensure_app(args.data_dir, train_rows=args.train_rows, trees=args.trees)
    source = ensure_rows(args.rows, args.data_dir)
    work = args.data_dir / "record"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    app = load_app(bench_app.spec)
    # the same app whose action goes to a connector, so that --deliver has deliveries to write
    delivering = bench_app.spec.with_name("doorstep-deliver.yaml")
    text = bench_app.spec.read_text()
    assert "  offer: {}\n" in text
    delivering.write_text(
        text.replace("  offer: {}\n", "  offer: {connector: sink}\n")
        + f"connectors:\n  sink: {{type: file, path: {work / 'sink.jsonl'}}}\n"
    )
    app_delivering = load_app(delivering)

    # the store floor's decisions, built once (outside the timing)
    import polars as pl

    frame = pl.read_parquet(source)
    prebuilt: list[list[Any]] = []
    for start in range(0, frame.height, STORE_CHUNK):
        part = frame.slice(start, STORE_CHUNK)
        batch = decide_batch(app, part, explain=False)
        made = record_batch(app, batch, part.to_dicts(), now=datetime.now(UTC))
        prebuilt.append(made.decisions)
    decided = sum(len(d) for d in prebuilt)
    # the same rows with a decision time each (one a second from 2026-01-01) for the import
    history = work / "history.parquet"
    first_us = int(datetime(2026, 1, 1, tzinfo=UTC).timestamp() * 1_000_000)
    seconds = pl.int_range(0, frame.height, eager=True, dtype=pl.Int64) * 1_000_000
    frame.with_columns(
        (seconds + first_us).cast(pl.Datetime("us", "UTC")).alias("decided_at")
    ).write_parquet(history)
    del frame
    columns = ImportColumns(decided_at="decided_at", key=app.spec.inputs.id)
    counter = {"n": 0}
    made_databases: list[str] = []

    def fresh_url() -> str:
        counter["n"] += 1
        if args.postgres:
            return _new_database(args.postgres, f"bench_record_{counter['n']}", made_databases)
        path = work / f"store-{counter['n']}.db"
        return f"sqlite:///{path}"

    def store_floor() -> object:
        with open_store(fresh_url()) as store:
            for decisions in prebuilt:
                store.record([RecordRequest(decisions, app=app.name)], actor="bench")
        return None

    results: dict[str, int] = {}
    deliveries: dict[str, int] = {}

    def recorded(deliver: bool) -> Callable[[], object]:
        def run() -> object:
            url = fresh_url()
            with open_store(url) as store:
                done = record_file(
                    app_delivering if deliver else app,
                    store,
                    source,
                    input_format=None,
                    deliver=deliver,
                    explain=False,
                    chunk_rows=args.chunk_rows,
                )
                stored = len(store.list_decisions(DecisionQuery(app=app.name, limit=1)).items)
            assert done.state == "succeeded" and stored == 1, done
            results["deliver" if deliver else "plain"] = done.decided
            deliveries["deliver" if deliver else "plain"] = done.deliveries
            return done

        return run

    def imported() -> object:
        with open_store(fresh_url()) as store:
            done = import_file(
                app,
                store,
                history,
                columns,
                input_format=None,
                explain=False,
                chunk_rows=args.chunk_rows,
            )
        assert done.state == "succeeded", done
        results["import"] = done.decided
        return done

    tasks: dict[str, Callable[[], object]] = {
        "floor_score": lambda: score_file(
            app, source, work / "out.parquet", explain=False, chunk_rows=args.chunk_rows
        ),
        "floor_store": store_floor,
        "record": recorded(False),
        "record_deliver": recorded(True),
        "import": imported,
    }
    print(f"timing {len(tasks)} measurements x {args.repeat} runs …", file=sys.stderr)
    try:
        t = round_robin(tasks, args.repeat)
    finally:
        _drop_databases(args.postgres, made_databases)
    backend = "PostgreSQL" if args.postgres else "SQLite"

    n = args.rows
    rates = {
        "floor_score": n / t["floor_score"].best,
        "floor_store": decided / t["floor_store"].best,
        "record": results["plain"] / t["record"].best,
        "record_deliver": results["deliver"] / t["record_deliver"].best,
        "import": results["import"] / t["import"].best,
    }
    ratios = {
        "record_vs_score": t["record"].best / t["floor_score"].best,
        "record_vs_score_plus_store": t["record"].best
        / (t["floor_score"].best + t["floor_store"].best),
        "record_rate_vs_target": rates["record"] / TARGET,
        "import_vs_record": t["import"].best / t["record"].best,
        "import_rate_vs_target": rates["import"] / TARGET,
    }

    def row(name: str, key: str, count: int, target: bool = False) -> list[str]:
        met = ("yes" if rates[key] >= TARGET else "NO") if target else ""
        shown = f">= {TARGET:,.0f}/s" if target else ""
        return [name, f"{t[key].best:.3f}", f"{count:,}", f"{rates[key]:,.0f}", shown, met]

    print_table(
        f"doorstep score FILE --record on {backend}: {n:,} rows, no reasons; best of {args.repeat}",
        ["measurement", "seconds", "decisions", "per second", "target", "met"],
        [
            row("floor: score_file to Parquet (same decisions)", "floor_score", n),
            row(
                f"floor: Store.record of prebuilt decisions, {STORE_CHUNK:,}/request",
                "floor_store",
                decided,
            ),
            row("doorstep record_file (--record)", "record", results["plain"], True),
            row(
                f"doorstep record_file (--record --deliver: {deliveries['deliver']:,} deliveries)",
                "record_deliver",
                results["deliver"],
                True,
            ),
            row(
                "doorstep import_file (decisions import --decided-at)",
                "import",
                results["import"],
                True,
            ),
        ],
    )
    for name, value in ratios.items():
        print(f"ratio {name}: {value:.3f}")
    result: dict[str, Any] = {
        "benchmark": "record",
        "backend": backend,
        "machine": machine_info(),
        "rows": n,
        "decided": decided,
        "repeat": args.repeat,
        "chunk_rows": args.chunk_rows,
        "target_per_second": TARGET,
        "timings": {name: timing.as_dict() for name, timing in t.items()},
        "per_second": rates,
        "deliveries": deliveries,
        "ratios": ratios,
    }
    if args.json:
        write_json(args.json, result)
    shutil.rmtree(work, ignore_errors=True)
    return result


def _server(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://", 1)


def _new_database(server: str, name: str, made: list[str]) -> str:
    """A new, empty database ``name`` on ``server``; its URL."""
    import psycopg
    from sqlalchemy import make_url

    with psycopg.connect(_server(server), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    made.append(name)
    return (
        make_url(server)
        .set(drivername="postgresql+psycopg", database=name)
        .render_as_string(hide_password=False)
    )


def _drop_databases(server: str | None, names: list[str]) -> None:
    if not server or not names:
        return
    import psycopg

    with psycopg.connect(_server(server), autocommit=True) as conn:
        for name in names:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


if __name__ == "__main__":
    main()
