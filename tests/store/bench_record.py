"""Decisions recorded per second, batches of 1,000 (not collected by pytest).

    .venv/bin/python tests/store/bench_record.py                      # SQLite FULL and NORMAL
    .venv/bin/python tests/store/bench_record.py postgresql+psycopg://…  # PostgreSQL

Prints a plain-SQLite floor (3-column rows, executemany) measured in the same run."""

from __future__ import annotations

import sqlite3
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parents[2]))

from tests.store.factories import decision  # noqa: E402

from doorstep.store import RecordRequest, open_store  # noqa: E402

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
        print(f"plain sqlite floor: {plain_sqlite(folder):,.0f} rows/s")
        for mode in ("FULL", "NORMAL"):
            rate = bench(f"sqlite:///{folder / mode}.db", mode)
            print(f"sqlite synchronous={mode}: {rate:,.0f} decisions/s")
