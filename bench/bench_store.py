"""Decisions recorded per second by the store, batches of 1,000, against plain SQLite.

    .venv/bin/python -m bench.bench_store                               # SQLite FULL and NORMAL
    .venv/bin/python -m bench.bench_store postgresql+psycopg://…        # PostgreSQL

The floor is plain SQLite (3-column rows, executemany, WAL, synchronous=FULL) in the same run;
the ratio is the store's rate over the floor's."""

from __future__ import annotations

import sqlite3
import sys
import tempfile
import time
from pathlib import Path

from tests.store.factories import decision

from doorstep.store import RecordRequest, open_store

BATCHES, SIZE = 30, 1000


def bench(url: str, synchronous: str = "FULL") -> float:
    batches = [[decision(i) for i in range(SIZE)] for _ in range(BATCHES + 1)]
    with open_store(url, synchronous=synchronous) as store:
        store.record([RecordRequest(batches[0])], actor="bench")
        start = time.perf_counter()
        for batch in batches[1:]:
            store.record([RecordRequest(batch)], actor="bench")
        return BATCHES * SIZE / (time.perf_counter() - start)


def plain_sqlite(folder: Path) -> float:
    conn = sqlite3.connect(folder / "plain.db", isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")
    conn.execute("CREATE TABLE t (id TEXT PRIMARY KEY, a INTEGER, b TEXT)")
    start = time.perf_counter()
    for n in range(BATCHES):
        conn.execute("BEGIN")
        conn.executemany(
            "INSERT INTO t VALUES (?, ?, ?)", [(f"{n}-{i}", i, "x" * 20) for i in range(SIZE)]
        )
        conn.execute("COMMIT")
    return BATCHES * SIZE / (time.perf_counter() - start)


if __name__ == "__main__":
    folder = Path(tempfile.mkdtemp())
    if len(sys.argv) > 1:
        print(f"postgresql: {bench(sys.argv[1]):,.0f} decisions/s")
    else:
        floor = plain_sqlite(folder)
        print(f"plain sqlite floor: {floor:,.0f} rows/s")
        for mode in ("FULL", "NORMAL"):
            rate = bench(f"sqlite:///{folder / mode}.db", mode)
            print(f"sqlite synchronous={mode}: {rate:,.0f} decisions/s ({rate / floor:.2f}x floor)")
