"""Peak memory of ``doorstep score`` as the input grows: it should stay flat.

    .venv/bin/python -m bench.bench_memory --rows 10000000 --json out.json

Runs the CLI (``--no-explain``) in a subprocess on a base file (1M rows) and on a large one (10M
rows, written in chunks, then deleted unless ``--keep``), and reads each child's peak resident
set size from ``wait4``. Also measured: a child that only loads the app, the fixed cost that every
run pays before the first row is read.
"""

from __future__ import annotations

import argparse
import math
import os
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from bench.common import (
    DATA_DIR,
    doorstep_command,
    ensure_app,
    ensure_rows,
    machine_info,
    print_table,
    write_json,
)

LIMIT_BYTES = 1.5e9
"""Target: scoring the large file peaks below 1.5 GB."""
BYTES_PER_ROW = 130
"""Rough size of one generated row in Parquet, to check the free disk space first."""


def peak_rss(command: list[str]) -> tuple[int, float]:
    """Run ``command``; its peak resident set size in bytes and its wall-clock seconds."""
    started = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    output = process.stdout.read() if process.stdout is not None else ""
    _, status, usage = os.wait4(process.pid, 0)
    seconds = time.perf_counter() - started
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} exited with {process.returncode}:\n{output}")
    return usage.ru_maxrss * 1024, seconds  # Linux reports KiB


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=10_000_000, help="rows of the large file")
    parser.add_argument("--base-rows", type=int, default=1_000_000, help="rows of the base file")
    parser.add_argument("--keep", action="store_true", help="keep the large file afterwards")
    parser.add_argument("--json", type=Path, help="write the results here")
    parser.add_argument("--data-dir", type=Path, default=DATA_DIR)
    parser.add_argument("--train-rows", type=int, default=50_000)
    parser.add_argument("--trees", type=int, default=200)
    args = parser.parse_args(argv)

    app = ensure_app(args.data_dir, train_rows=args.train_rows, trees=args.trees)
    base = ensure_rows(args.base_rows, args.data_dir)
    needed = args.rows * BYTES_PER_ROW * 1.2
    free = shutil.disk_usage(args.data_dir).free
    if free < needed:
        raise SystemExit(
            f"{args.data_dir} has {free / 1024**3:.1f} GiB free; the {args.rows:,}-row file "
            f"needs about {needed / 1024**3:.1f} GiB"
        )
    generated = time.perf_counter()
    large = ensure_rows(args.rows, args.data_dir)
    generated = time.perf_counter() - generated
    generator_peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    out = args.data_dir / "out"
    out.mkdir(parents=True, exist_ok=True)

    load_only = [
        sys.executable,
        "-c",
        "import sys; from pathlib import Path; "
        "from doorstep.services.apps.loading import load_app; "
        "load_app(Path(sys.argv[1]))",
        str(app.spec),
    ]
    try:
        peaks: dict[str, tuple[int, float]] = {"load_app only": peak_rss(load_only)}
        for label, source in ((f"{args.base_rows:,} rows", base), (f"{args.rows:,} rows", large)):
            command = [
                *doorstep_command(),
                "score",
                str(source),
                "--spec",
                str(app.spec),
                "--out",
                str(out / "memory.parquet"),
                "--no-explain",
            ]
            peaks[label] = peak_rss(command)
    finally:
        if not args.keep and args.rows != args.base_rows:
            large.unlink(missing_ok=True)
        (out / "memory.parquet").unlink(missing_ok=True)

    (_, (load_peak, _)), (_, (base_peak, base_s)), (_, (large_peak, large_s)) = peaks.items()
    ratio = large_peak / base_peak
    over_load = (large_peak - load_peak) / max(1, base_peak - load_peak)
    print_table(
        "doorstep score --no-explain: peak resident memory (subprocess)",
        ["run", "peak RSS (MiB)", "seconds", "rows/s"],
        [
            [
                label,
                f"{peak / 1024**2:,.0f}",
                f"{seconds:.1f}",
                ""
                if label == "load_app only"
                else f"{int(label.split()[0].replace(',', '')) / seconds:,.0f}",
            ]
            for label, (peak, seconds) in peaks.items()
        ],
    )
    met = "yes" if large_peak < LIMIT_BYTES else "NO"
    print(f"generator: {generated:.1f} s, its own peak RSS {generator_peak / 1024**2:,.0f} MiB")
    print(f"ratio large/base peak: {ratio:.3f} (above load_app only: {over_load:.3f})")
    print(f"target: {args.rows:,} rows below {LIMIT_BYTES / 1e9:.1f} GB — met: {met}")
    if not (math.isfinite(ratio) and ratio > 0):
        raise RuntimeError(f"the ratio is not a positive number: {ratio}")
    result: dict[str, Any] = {
        "benchmark": "memory",
        "machine": machine_info(),
        "rows": args.rows,
        "base_rows": args.base_rows,
        "limit_bytes": LIMIT_BYTES,
        "peak_bytes": {label: peak for label, (peak, _) in peaks.items()},
        "seconds": {label: seconds for label, (_, seconds) in peaks.items()},
        "ratio": ratio,
        "ratio_above_load": over_load,
        "met": large_peak < LIMIT_BYTES,
        "generator_seconds": generated,
        "generator_peak_bytes": generator_peak,
    }
    if args.json:
        write_json(args.json, result)
    return result


if __name__ == "__main__":
    main()
