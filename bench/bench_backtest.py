"""A backtest of N stored decisions (``doorstep models backtest``) against ``doorstep score`` of
the same rows, measured in the same run.

    .venv/bin/python -m bench.bench_backtest --rows 200000 --repeat 3 --json backtest.json

The store (SQLite) holds the N rows as recorded decisions (``record_file``, no reasons), half of
them with an outcome; it is built once, outside the timing, and kept under the data folder
(keyed by the rows file, the model and the store's schema) for the next run. Then, interleaved:

- **floor**: ``score_file`` of the same N rows from Parquet to Parquet, no reasons (what
  ``doorstep score --no-explain`` does in-process);
- **backtest**: :func:`~doorstep.services.rollout.backtest.backtest` of the N stored decisions
  through a second model (fewer trees, same features): read back with their outcomes, decided
  again, compared, the labelled half's quality and the sample of flips explained.

Target: the backtest takes at most twice the floor.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bench.bench_score import round_robin
from bench.common import DATA_DIR, ensure_app, ensure_rows, machine_info, print_table, write_json

if TYPE_CHECKING:
    from doorstep.services.apps.loading import LoadedApp

TARGET = 2.0
"""Backtest time over the floor's, at most."""


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=200_000, help="stored decisions")
    parser.add_argument("--repeat", type=int, default=3, help="runs per measurement (best counts)")
    parser.add_argument("--chunk-rows", type=int, default=20_000, help="rows per chunk")
    parser.add_argument("--json", type=Path, help="write the results here")
    parser.add_argument("--data-dir", type=Path, default=DATA_DIR)
    parser.add_argument("--train-rows", type=int, default=50_000)
    parser.add_argument("--trees", type=int, default=200)
    args = parser.parse_args(argv)

    from doorstep.services.apps.loading import load_app, with_model
    from doorstep.services.rollout.backtest import backtest
    from doorstep.services.runs.files import score_file
    from doorstep.store import open_store

    bench_app = ensure_app(args.data_dir, train_rows=args.train_rows, trees=args.trees)
    other = ensure_app(args.data_dir, train_rows=args.train_rows, trees=max(1, args.trees // 2))
    source = ensure_rows(args.rows, args.data_dir)
    work = args.data_dir / "backtest"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    app = load_app(bench_app.spec)
    candidate = with_model(app, other.model, version="candidate")
    stored = ensure_store(app, source, bench_app.directory)
    with open_store(f"sqlite:///{stored}", migrate=False) as store:
        labelled = store.feedback_counts(app.name).labelled

        found: dict[str, Any] = {}

        def run_backtest() -> object:
            report = backtest(app, candidate, store, chunk_rows=args.chunk_rows)
            assert report.decisions == args.rows, report.decisions
            found["report"] = report
            return report

        tasks = {
            "floor": lambda: score_file(
                app, source, work / "out.parquet", explain=False, chunk_rows=args.chunk_rows
            ),
            "backtest": run_backtest,
        }
        print(f"timing {len(tasks)} measurements x {args.repeat} runs …", file=sys.stderr)
        t = round_robin(tasks, args.repeat)

    report = found["report"]
    ratio = t["backtest"].best / t["floor"].best
    n = args.rows
    print_table(
        f"backtest of {n:,} stored decisions ({labelled:,} with an outcome) vs doorstep score; "
        f"best of {args.repeat}",
        ["measurement", "seconds", "decisions/s", "ratio", "target", "met"],
        [
            ["floor: score_file, Parquet to Parquet, no reasons", f"{t['floor'].best:.2f}",
             f"{n / t['floor'].best:,.0f}", "", "", ""],
            ["backtest (read, decide, compare, quality, sample)", f"{t['backtest'].best:.2f}",
             f"{n / t['backtest'].best:,.0f}", f"{ratio:.2f}x", f"<= {TARGET:.1f}x",
             "yes" if ratio <= TARGET else "NO"],
        ],
    )  # fmt: skip
    print(f"flips: {report.flips:,}; verdict: {report.verdict}")
    result: dict[str, Any] = {
        "benchmark": "backtest",
        "machine": machine_info(),
        "rows": n,
        "labelled": labelled,
        "repeat": args.repeat,
        "chunk_rows": args.chunk_rows,
        "timings": {name: timing.as_dict() for name, timing in t.items()},
        "ratio": ratio,
        "target": TARGET,
        "flips": report.flips,
    }
    if args.json:
        write_json(args.json, result)
    shutil.rmtree(work, ignore_errors=True)
    return result


def ensure_store(app: LoadedApp, source: Path, app_dir: Path) -> Path:
    """The cached SQLite store of ``source``'s rows recorded as decisions of ``app`` (half with
    an outcome), built once per rows file, app (model) and store schema: ``<app folder>/
    backtest-<rows file>-<schema head>.db``. A partial build is written aside, then renamed."""
    import numpy as np
    import pyarrow.parquet as pq

    from doorstep.services.runs.file_runs import record_file
    from doorstep.store import DecisionQuery, open_store
    from doorstep.store.feedback import OutcomeWrite
    from doorstep.store.migrate import head_revision
    from doorstep.types import Outcome

    path = app_dir / f"backtest-{source.stem}-{head_revision()}.db"
    if path.exists():
        return path
    partial = path.with_name(path.name + ".partial")
    for leftover in partial.parent.glob(partial.name + "*"):
        leftover.unlink()
    rows = pq.ParquetFile(source).metadata.num_rows
    print(f"recording {rows:,} decisions and half as many outcomes …", file=sys.stderr)
    rng = np.random.default_rng(3)
    # synchronous=OFF: a crash mid-build leaves a .partial file that is thrown away
    with open_store(f"sqlite:///{partial}", synchronous="OFF") as store:
        done = record_file(app, store, source, input_format=None, deliver=False, explain=False,
                           chunk_rows=10_000)  # fmt: skip
        assert done.decided == rows, done
        cursor: str | None = None
        later = datetime.now(UTC) + timedelta(minutes=1)
        while True:
            page = store.list_decisions(DecisionQuery(app=app.name, limit=1000, cursor=cursor))
            chosen = [d for d in page.items if rng.random() < 0.5]
            outcomes = [
                Outcome(row=i, observed_at=later, decision_id=d.id,
                        label="1" if rng.random() < d.score else "0")
                for i, d in enumerate(chosen)
            ]  # fmt: skip
            store.record_outcomes(
                OutcomeWrite(app.name, outcomes, timedelta(days=30), "bench"), actor="bench"
            )
            if page.next_cursor is None:
                break
            cursor = page.next_cursor
        with store.engine.connect() as conn:  # one file: fold the write-ahead log in
            conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    for leftover in partial.parent.glob(partial.name + "-*"):
        leftover.unlink()
    partial.replace(path)
    return path


if __name__ == "__main__":
    main()
