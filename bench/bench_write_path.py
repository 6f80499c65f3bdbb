"""CPU time per decision of the store's write path and of ``doorstep score FILE --record``, on
SQLite or PostgreSQL: for machines too busy for wall-clock rates (``bench_record``).

    .venv/bin/python -m bench.bench_write_path --rows 20000 [--postgres URL]

- **store**: ``Store.record`` of decisions built beforehand, 10,000 per request;
- **file**: ``record_file`` of the same rows (decide, build the decisions, record a run's chunk).

Each is run three times, interleaved, each on a new store (``--postgres URL``: a new database on
that server, dropped at the end); the least CPU time of this process counts (what the write path
costs in Python; PostgreSQL's own work is in its server process), with the best wall-clock rate
beside it.
"""

from __future__ import annotations

import argparse
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.common import DATA_DIR, ensure_app, ensure_rows, write_json


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=20_000)
    parser.add_argument("--postgres", metavar="URL", help="a PostgreSQL server (not SQLite)")
    parser.add_argument("--json", type=Path)
    parser.add_argument("--data-dir", type=Path, default=DATA_DIR)
    args = parser.parse_args(argv)

    import polars as pl

    from bench.bench_record import _drop_databases, _new_database
    from doorstep.services.apps.loading import load_app
    from doorstep.services.decide.batch import decide_batch
    from doorstep.services.decide.recording import record_batch
    from doorstep.services.runs.file_runs import record_file
    from doorstep.store import RecordRequest, open_store

    work = args.data_dir / "write-path"
    work.mkdir(parents=True, exist_ok=True)
    made: list[str] = []

    def fresh() -> str:
        if args.postgres:
            return _new_database(args.postgres, f"bench_write_{uuid.uuid4().hex[:10]}", made)
        return f"sqlite:///{work / uuid.uuid4().hex}.db"

    app = load_app(ensure_app(args.data_dir, train_rows=50_000, trees=200).spec)
    source = ensure_rows(args.rows, args.data_dir)
    frame = pl.read_parquet(source)
    prebuilt = []
    for start in range(0, frame.height, 10_000):
        part = frame.slice(start, 10_000)
        batch = decide_batch(app, part, explain=False)
        prebuilt.append(record_batch(app, batch, part.to_dicts(), now=datetime.now(UTC)).decisions)
    best: dict[str, list[float]] = {}
    try:
        for what in ("store", "file") * 3:
            with open_store(fresh()) as store:
                cpu, wall = time.process_time(), time.perf_counter()
                if what == "store":
                    for decisions in prebuilt:
                        store.record([RecordRequest(decisions, app=app.name)], actor="bench")
                else:
                    record_file(
                        app, store, source, input_format=None, deliver=False, explain=False,
                        chunk_rows=10_000,
                    )  # fmt: skip
                cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
            seen = best.setdefault(what, [cpu, wall])
            seen[0], seen[1] = min(seen[0], cpu), min(seen[1], wall)
    finally:
        _drop_databases(args.postgres, made)
        for path in work.glob("*.db*"):
            path.unlink()
    backend = "PostgreSQL" if args.postgres else "SQLite"
    result: dict[str, Any] = {"benchmark": "write_path", "backend": backend, "rows": args.rows}
    for what, (cpu, wall) in best.items():
        per_row = cpu / args.rows * 1e6
        print(
            f"{backend} {what}: {per_row:.1f} us of CPU per decision "
            f"({args.rows / cpu:,.0f}/s of CPU), best wall {args.rows / wall:,.0f}/s"
        )
        result[what] = {"cpu_us_per_decision": per_row, "wall_per_second": args.rows / wall}
    if args.json:
        write_json(args.json, result)
    return result


if __name__ == "__main__":
    main()
