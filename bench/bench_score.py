"""Batch scoring speed of ``doorstep score`` against floors measured in the same run.

    .venv/bin/python -m bench.bench_score --rows 1000000 --explain-rows 100000 --json out.json

Floor A is the least any batch scorer must do: read the Parquet file (pyarrow), build the float64
matrix (categories as the model's codes), ``Booster.predict``, write ``(id, score)`` to Parquet.
Floor B is LightGBM's own TreeSHAP (``pred_contrib=True``) on the explained rows. doorstep is timed
in-process (``score_file`` on an app loaded once) and as the whole CLI in a subprocess (start-up,
imports and model loading included). Every measurement is repeated round-robin and the best run
counts, so other processes on the machine slow floors and doorstep alike.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import math
import pstats
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from bench.common import (
    DATA_DIR,
    ID_FIELD,
    Timing,
    doorstep_command,
    ensure_app,
    ensure_rows,
    feature_matrix,
    machine_info,
    print_table,
    time_best,
    write_json,
)

TARGET = 1.25
"""doorstep may take at most this multiple of the floor."""
BATCH_ROWS = 65_536
"""Rows per batch of the streaming floor (doorstep's default chunk size)."""


def floor_streaming(booster: Any, source: Path, out: Path) -> None:
    """Floor A, streaming: batch by batch, constant memory."""
    schema = pa.schema([(ID_FIELD, pa.string()), ("score", pa.float64())])
    with pq.ParquetWriter(out, schema) as writer:
        for batch in pq.ParquetFile(source).iter_batches(batch_size=BATCH_ROWS):
            scores = booster.predict(feature_matrix(batch))
            writer.write_table(pa.table({ID_FIELD: batch.column(ID_FIELD), "score": scores}))


def floor_whole(booster: Any, source: Path, out: Path) -> None:
    """Floor A, whole file: one multi-threaded read, one predict, one write."""
    table = pq.read_table(source)
    scores = booster.predict(feature_matrix(table))
    pq.write_table(pa.table({ID_FIELD: table.column(ID_FIELD), "score": scores}), out)


def floor_process(model: str, source: str, out: str) -> None:
    """Floor A as a fresh process (``python -c``): start-up, imports, model loading included."""
    import lightgbm as lgb

    floor_streaming(lgb.Booster(model_file=model), Path(source), Path(out))


def run_floor_process(model: Path, source: Path, out: Path) -> None:
    code = "import sys; from bench.bench_score import floor_process; floor_process(*sys.argv[1:])"
    root = Path(__file__).resolve().parents[1]
    command = [sys.executable, "-c", code, str(model), str(source), str(out)]
    subprocess.run(command, check=True, cwd=root, capture_output=True)


def run_cli(spec: Path, source: Path, out: Path, *extra: str) -> None:
    """``doorstep score`` in a subprocess; raise with its output when it fails."""
    command = [*doorstep_command(), "score", str(source), "--spec", str(spec), "--out", str(out)]
    done = subprocess.run([*command, *extra], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(
            f"{' '.join(command)} exited with {done.returncode}:\n{done.stdout}\n{done.stderr}"
        )


def round_robin(tasks: dict[str, Callable[[], object]], repeat: int) -> dict[str, Timing]:
    """Time every task ``repeat`` times, interleaved, and keep each task's runs."""
    runs: dict[str, list[float]] = {name: [] for name in tasks}
    for _ in range(max(1, repeat)):
        for name, task in tasks.items():
            timing, _ = time_best(task, 1)
            runs[name].append(timing.best)
    return {name: Timing(min(times), tuple(times)) for name, times in runs.items()}


def score_agreement(decisions: Path, floor: Path) -> float:
    """Largest absolute difference between doorstep's scores and the raw booster's."""
    import polars as pl

    ours = pl.read_parquet(decisions, columns=["entity_id", "score"])
    raw = pl.read_parquet(floor).rename({ID_FIELD: "entity_id", "score": "raw"})
    joined = ours.join(raw, on="entity_id", how="inner")
    if joined.height != ours.height:
        raise RuntimeError(f"only {joined.height} of {ours.height} decisions matched an input id")
    return float((joined["score"] - joined["raw"]).abs().max() or 0.0)  # type: ignore[arg-type]


def profile(fn: Callable[[], object], path: Path, top: int) -> str:
    """Profile one call of ``fn``; save the stats to ``path`` and return the top lines."""
    profiler = cProfile.Profile()
    profiler.enable()
    fn()
    profiler.disable()
    profiler.dump_stats(path)
    text = io.StringIO()
    stats = pstats.Stats(profiler, stream=text).strip_dirs()
    stats.sort_stats("cumulative").print_stats(top)
    stats.sort_stats("tottime").print_stats(top)
    return text.getvalue()


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="rows scored without reasons")
    parser.add_argument("--explain-rows", type=int, default=100_000, help="rows explained")
    parser.add_argument("--repeat", type=int, default=3, help="runs per measurement (best counts)")
    parser.add_argument("--json", type=Path, help="write the results here")
    parser.add_argument("--data-dir", type=Path, default=DATA_DIR)
    parser.add_argument("--train-rows", type=int, default=50_000)
    parser.add_argument("--trees", type=int, default=200)
    parser.add_argument("--no-cli", action="store_true", help="skip the CLI subprocess runs")
    parser.add_argument(
        "--profile",
        type=int,
        metavar="N",
        default=0,
        help="also profile doorstep (cProfile) and print the top N functions",
    )
    args = parser.parse_args(argv)

    import lightgbm as lgb

    from doorstep.services.apps.loading import load_app
    from doorstep.services.runs.files import score_file

    app = ensure_app(args.data_dir, train_rows=args.train_rows, trees=args.trees)
    source = ensure_rows(args.rows, args.data_dir)
    small = ensure_rows(args.explain_rows, args.data_dir)
    work = args.data_dir / "out"
    work.mkdir(parents=True, exist_ok=True)
    booster = lgb.Booster(model_file=str(app.model))
    load_timing, loaded = time_best(lambda: load_app(app.spec), 1)
    matrix = feature_matrix(pq.read_table(small))

    def doorstep_plain() -> object:
        return score_file(loaded, source, work / "plain.parquet", explain=False)

    def doorstep_explained() -> object:
        return score_file(loaded, small, work / "explained.parquet", explain=True)

    tasks: dict[str, Callable[[], object]] = {
        "floor_a_stream": lambda: floor_streaming(booster, source, work / "floor.parquet"),
        "floor_a_whole": lambda: floor_whole(booster, source, work / "floor_whole.parquet"),
        "doorstep": doorstep_plain,
        "floor_a_small": lambda: floor_streaming(booster, small, work / "floor_small.parquet"),
        "floor_b": lambda: booster.predict(matrix, pred_contrib=True),
        "doorstep_explain": doorstep_explained,
    }
    if not args.no_cli:
        tasks["floor_a_process"] = lambda: run_floor_process(
            app.model, source, work / "floor_process.parquet"
        )
        tasks["doorstep_cli"] = lambda: run_cli(
            app.spec, source, work / "cli.parquet", "--no-explain"
        )
    print(f"timing {len(tasks)} measurements x {args.repeat} runs …", file=sys.stderr)
    t = round_robin(tasks, args.repeat)

    summary = doorstep_explained()
    explained = getattr(summary, "explained", None)
    floor_a = min(t["floor_a_stream"].best, t["floor_a_whole"].best)
    floor_ab = t["floor_b"].best + t["floor_a_small"].best
    ratios = {
        "score_vs_floor_a": t["doorstep"].best / floor_a,
        "explain_vs_floor_a_plus_b": t["doorstep_explain"].best / floor_ab,
    }
    if "doorstep_cli" in t:
        ratios["cli_vs_floor_a"] = t["doorstep_cli"].best / floor_a
        ratios["cli_vs_floor_a_process"] = t["doorstep_cli"].best / t["floor_a_process"].best
    agreement = score_agreement(work / "explained.parquet", work / "floor_small.parquet")

    def row(name: str, seconds: float, rows: int, ratio: float | None = None) -> list[str]:
        shown = "" if ratio is None else f"{ratio:.2f}x"
        ok = "" if ratio is None else ("yes" if ratio <= TARGET else "NO")
        target = "" if ratio is None else f"<= {TARGET:.2f}x"
        return [name, f"{seconds:.3f}", f"{rows / seconds:,.0f}", shown, target, ok]

    n, m = args.rows, args.explain_rows
    table = [
        row("floor A: read + predict + write (streamed)", t["floor_a_stream"].best, n),
        row("floor A: read + predict + write (whole file)", t["floor_a_whole"].best, n),
        row("doorstep score_file, --no-explain", t["doorstep"].best, n, ratios["score_vs_floor_a"]),
    ]
    if "doorstep_cli" in t:
        table += [
            row(
                "doorstep CLI subprocess, --no-explain",
                t["doorstep_cli"].best,
                n,
                ratios["cli_vs_floor_a"],
            ),
            row(
                "floor A as a subprocess (start-up, imports, model load)",
                t["floor_a_process"].best,
                n,
            ),
            row(
                "doorstep CLI vs floor A subprocess",
                t["doorstep_cli"].best,
                n,
                ratios["cli_vs_floor_a_process"],
            ),
        ]
    table += [
        row(f"floor A on {m:,} rows", t["floor_a_small"].best, m),
        row(f"floor B: pred_contrib on {m:,} rows", t["floor_b"].best, m),
        row("floor A + floor B", floor_ab, m),
        row(
            "doorstep score_file, top-3 reasons for all",
            t["doorstep_explain"].best,
            m,
            ratios["explain_vs_floor_a_plus_b"],
        ),
    ]
    print_table(
        f"doorstep score: {n:,} rows (no reasons), {m:,} rows (top-3 reasons); best of "
        f"{args.repeat}",
        ["measurement", "seconds", "rows/s", "ratio", "target", "met"],
        table,
    )
    print(
        f"load_app: {load_timing.best:.3f} s; explained rows: {explained}; "
        f"max |doorstep score - raw booster score|: {agreement:.2e}"
    )
    for name, value in ratios.items():
        print(f"ratio {name}: {value:.3f}")

    result: dict[str, Any] = {
        "benchmark": "score",
        "machine": machine_info(),
        "rows": n,
        "explain_rows": m,
        "repeat": args.repeat,
        "trees": args.trees,
        "target": TARGET,
        "load_app_seconds": load_timing.best,
        "timings": {name: timing.as_dict() for name, timing in t.items()},
        "floors": {"floor_a": floor_a, "floor_a_small_plus_b": floor_ab},
        "rows_per_second": {
            name: (m if name in ("floor_a_small", "floor_b", "doorstep_explain") else n)
            / timing.best
            for name, timing in t.items()
        },
        "ratios": ratios,
        "explained_rows": explained,
        "max_score_difference": agreement,
    }
    if not all(math.isfinite(v) and v > 0 for v in ratios.values()):
        raise RuntimeError(f"a ratio is not a positive number: {ratios}")
    if args.json:
        write_json(args.json, result)

    if args.profile:
        plain = profile(doorstep_plain, work / "score.prof", args.profile)
        print(f"\n=== profile: score_file, {n:,} rows, --no-explain ===\n{plain}")
        deep = profile(doorstep_explained, work / "explain.prof", args.profile)
        print(f"\n=== profile: score_file, {m:,} rows, top-3 reasons ===\n{deep}")
    return result


if __name__ == "__main__":
    main()
