"""Speed and memory of the drift statistics against Evidently, NannyML and a numpy/scipy floor,
all measured in the same run.

    .venv/bin/python -m bench.bench_drift --json drift.json
    .venv/bin/python -m bench.bench_drift --rows 200000 --only doorstep,floor --repeat 3

Data: ``--rows`` reference and ``--rows`` current records of the benchmarks' 23 features (20
numeric, 3 categorical; ``bench/common.py``), the current ones with drift injected into six:
``x00`` shifted by half a standard deviation, ``n03`` shifted by a few units, ``x05`` scaled by
1.3, 10% of ``x02`` missing, 20% of ``channel`` moved to ``app`` and 1% of ``plan`` an unseen
``enterprise``. Both are Parquet files cached in ``bench/.data/``.

Each tool runs in its own subprocess (the peers in their own virtual environments under
``bench/.data/venvs/``, from ``bench/peers/setup.sh evidently nannyml``) and does the whole job
from the Parquet files: read both, profile the reference, compare the current window with it.
The child reports its own seconds (after its imports, which are timed apart) and its peak
resident set size (``VmHWM`` of ``/proc/self/status``; ``wait4``'s ``ru_maxrss`` would count the
parent's memory the forked child started with).

- **doorstep** — ``build_profile`` and ``compare`` over lazy Parquet scans (polars batches):
  per feature missing, out-of-range or unseen rate, PSI, Jensen-Shannon, KS or chi-square with
  p-values, normalised Wasserstein. Also run with one thread (``POLARS_MAX_THREADS=1``,
  ``threads=1``).
- **floor** — a plain numpy/scipy pass computing the same statistics from whole columns:
  ``ks_2samp``, ``wasserstein_distance``, ``np.histogram`` + ``jensenshannon``, deciles + PSI,
  ``chisquare``, value counts (pyarrow).
- **evidently** — 0.7.23, ``Report([DataDriftPreset()])`` (its defaults: normalised Wasserstein
  for numeric columns, Jensen-Shannon for categorical and low-cardinality ones).
- **nannyml** — 0.13.1, ``UnivariateDriftCalculator`` (KS, Jensen-Shannon, Wasserstein;
  chi-square and Jensen-Shannon) plus the missing, unseen and range calculators, one chunk.

Targets: doorstep at least 10x faster than Evidently, faster than NannyML, at most half of
Evidently's peak memory, and the same numbers where the statistic is the same (normalised
Wasserstein, and Jensen-Shannon, are compared with Evidently's per column).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = Path(__file__).resolve()
DATA_DIR = ROOT / "bench" / ".data"
VENVS = DATA_DIR / "venvs"
TOOLS = ("doorstep", "doorstep-1thread", "floor", "evidently", "nannyml")
DRIFT_VERSION = 1
"""Bump when the injected drift changes, so cached files are not reused."""

SPEEDUP_VS_EVIDENTLY = 10.0
MEMORY_VS_EVIDENTLY = 0.5

INT_FIELDS = [f"n{i:02d}" for i in range(10)]
FLOAT_FIELDS = [f"x{i:02d}" for i in range(10)]
NUMERIC = [*INT_FIELDS, *FLOAT_FIELDS]
CATEGORICAL = ["plan", "region", "channel"]
FEATURES = [*NUMERIC, *CATEGORICAL]


# --- data -------------------------------------------------------------------------------------


def ensure_data(rows: int, data_dir: Path) -> tuple[Path, Path]:
    """The reference and the drifted current Parquet files of ``rows`` records each."""
    import numpy as np
    import polars as pl

    from bench.common import ensure_rows

    reference = ensure_rows(rows, data_dir, seed=7)
    current = data_dir / f"drift-v{DRIFT_VERSION}-s8-{rows}.parquet"
    if not current.exists():
        base = pl.read_parquet(ensure_rows(rows, data_dir, seed=8), columns=FEATURES)
        rng = np.random.default_rng(9)
        n = base.height
        x02 = base["x02"].to_numpy().copy()
        x02[rng.random(n) < 0.10] = np.nan
        channel = np.where(rng.random(n) < 0.2, "app", base["channel"].to_numpy())
        plan = np.where(rng.random(n) < 0.01, "enterprise", base["plan"].to_numpy())
        drifted = base.with_columns(
            (pl.col("x00") + 0.5).alias("x00"),
            (pl.col("n03") + pl.Series(rng.integers(0, 10, n))).alias("n03"),
            (pl.col("x05") * 1.3).alias("x05"),
            pl.Series("x02", x02).fill_nan(None),
            pl.Series("channel", channel),
            pl.Series("plan", plan),
        )
        partial = current.with_name(current.name + ".partial")
        drifted.write_parquet(partial)
        partial.replace(current)
        ensure_rows(rows, data_dir, seed=8).unlink()  # only the drifted copy is needed
    return reference, current


# --- the jobs (each runs in a child process; imports inside, peers lack doorstep) -------------


def job_doorstep(reference: Path, current: Path, threads: int | None) -> dict[str, Any]:
    import polars as pl

    from doorstep.core.stats.drift import build_profile, compare

    started = time.perf_counter()
    kinds = {n: "numeric" for n in NUMERIC} | {n: "categorical" for n in CATEGORICAL}
    profile = build_profile(pl.scan_parquet(reference), features=kinds)  # type: ignore[arg-type]
    profiled = time.perf_counter()
    report = compare(profile, pl.scan_parquet(current), threads=threads)
    done = time.perf_counter()
    stats = {
        c.name: {
            "missing_rate": c.missing_rate,
            "psi": c.psi,
            "js_distance": c.js_distance,
            "wasserstein_norm": c.wasserstein_norm,
            "ks_pvalue": c.ks_pvalue,
            "chi2_pvalue": c.chi2_pvalue,
            "status": c.status,
        }
        for c in report.features
    }
    return {
        "seconds": done - started,
        "profile_seconds": profiled - started,
        "compare_seconds": done - profiled,
        "profile_bytes": len(profile.to_bytes()),
        "flagged": report.flagged(),
        "stats": stats,
    }


def job_floor(reference: Path, current: Path) -> dict[str, Any]:
    import numpy as np
    import pyarrow.compute as pc
    import pyarrow.parquet as pq
    from scipy import stats as st
    from scipy.spatial.distance import jensenshannon

    started = time.perf_counter()
    ref = pq.read_table(reference, columns=FEATURES)
    cur = pq.read_table(current, columns=FEATURES)
    out: dict[str, dict[str, Any]] = {}
    for name in NUMERIC:
        a_all = ref.column(name).to_numpy(zero_copy_only=False).astype(np.float64)
        b_all = cur.column(name).to_numpy(zero_copy_only=False).astype(np.float64)
        a, b = a_all[np.isfinite(a_all)], b_all[np.isfinite(b_all)]
        ks = st.ks_2samp(a, b)
        std = max(float(np.std(a)), 0.001)
        wasserstein = st.wasserstein_distance(a, b) / std
        values = np.unique(a)
        if values.size <= 20:  # few distinct values: compared value by value
            keys = np.union1d(values, b)
            ha = np.searchsorted(keys, a)
            hb = np.searchsorted(keys, b)
            pa_, pb_ = np.bincount(ha, minlength=keys.size), np.bincount(hb, minlength=keys.size)
            js = jensenshannon(pa_ / a.size, pb_ / b.size)
        else:
            edges = np.histogram_bin_edges(np.concatenate([a, b]), bins="sturges")
            ha, hb = np.histogram(a, edges)[0], np.histogram(b, edges)[0]
            js = jensenshannon(ha / a.size, hb / b.size)
        deciles = np.unique(np.quantile(a, np.arange(1, 10) / 10))
        r = np.bincount(np.searchsorted(deciles, a), minlength=deciles.size + 1) / a.size
        c = np.bincount(np.searchsorted(deciles, b), minlength=deciles.size + 1) / b.size
        r, c = np.where(r == 0, 1e-4, r), np.where(c == 0, 1e-4, c)
        out[name] = {
            "missing_rate": 1 - b.size / b_all.size,
            "out_of_range_rate": float(np.mean((b < a.min()) | (b > a.max()))),
            "psi": float(np.sum((r - c) * np.log(r / c))),
            "js_distance": float(js),
            "wasserstein_norm": float(wasserstein),
            "ks_pvalue": float(ks.pvalue),
        }
    for name in CATEGORICAL:
        counts = []
        for table in (ref, cur):
            vc = pc.value_counts(table.column(name).drop_null()).to_pylist()
            counts.append({d["values"]: d["counts"] for d in vc})
        categories = sorted(set(counts[0]) | set(counts[1]))
        r = np.array([counts[0].get(k, 0) for k in categories], dtype=np.float64)
        c = np.array([counts[1].get(k, 0) for k in categories], dtype=np.float64)
        with np.errstate(divide="ignore"):
            chi = st.chisquare(c, r * (c.sum() / r.sum()))
        rs, cs = r / r.sum(), c / c.sum()
        rs, cs = np.where(rs == 0, 1e-4, rs), np.where(cs == 0, 1e-4, cs)
        out[name] = {
            "missing_rate": cur.column(name).null_count / cur.num_rows,
            "unseen_rate": float(c[r == 0].sum() / c.sum()),
            "psi": float(np.sum((rs - cs) * np.log(rs / cs))),
            "js_distance": float(jensenshannon(r / r.sum(), c / c.sum())),
            "chi2_pvalue": float(chi.pvalue),
        }
    return {"seconds": time.perf_counter() - started, "stats": out}


def job_evidently(reference: Path, current: Path) -> dict[str, Any]:
    import pandas as pd
    from evidently import DataDefinition, Dataset, Report
    from evidently.presets import DataDriftPreset

    started = time.perf_counter()
    ref = pd.read_parquet(reference, columns=FEATURES)
    cur = pd.read_parquet(current, columns=FEATURES)
    definition = DataDefinition(numerical_columns=NUMERIC, categorical_columns=CATEGORICAL)
    snapshot = Report([DataDriftPreset()]).run(
        Dataset.from_pandas(cur, data_definition=definition),
        Dataset.from_pandas(ref, data_definition=definition),
    )
    result = snapshot.dict()
    seconds = time.perf_counter() - started
    stats: dict[str, dict[str, Any]] = {}
    for metric in result["metrics"]:
        config = metric["config"]
        if config.get("type", "").endswith("ValueDrift"):
            key = {
                "Wasserstein distance (normed)": "wasserstein_norm",
                "Jensen-Shannon distance": "js_distance",
            }.get(config["method"], config["method"])
            stats.setdefault(config["column"], {})[key] = float(metric["value"])
    return {"seconds": seconds, "stats": stats}


def job_nannyml(reference: Path, current: Path) -> dict[str, Any]:
    import nannyml as nml
    import pandas as pd

    started = time.perf_counter()
    ref = pd.read_parquet(reference, columns=FEATURES)
    cur = pd.read_parquet(current, columns=FEATURES)
    drift = nml.UnivariateDriftCalculator(
        column_names=FEATURES,
        treat_as_categorical=CATEGORICAL,
        continuous_methods=["kolmogorov_smirnov", "jensen_shannon", "wasserstein"],
        categorical_methods=["chi2", "jensen_shannon"],
        chunk_number=1,
    )
    calculators = [
        drift,
        nml.MissingValuesCalculator(column_names=FEATURES, chunk_number=1),
        nml.UnseenValuesCalculator(column_names=CATEGORICAL, chunk_number=1),
        nml.NumericalRangeCalculator(column_names=NUMERIC, chunk_number=1),
    ]
    results = [calc.fit(ref).calculate(cur) for calc in calculators]
    seconds = time.perf_counter() - started
    frame = results[0].filter(period="analysis").to_df()
    stats: dict[str, dict[str, Any]] = {}
    for column in frame.columns:
        if len(column) == 3 and column[2] == "value" and column[0] in FEATURES:
            stats.setdefault(column[0], {})[column[1]] = float(frame[column].iloc[0])
    return {"seconds": seconds, "stats": stats}


def run_job(tool: str, reference: Path, current: Path) -> dict[str, Any]:
    if tool == "doorstep":
        return job_doorstep(reference, current, None)
    if tool == "doorstep-1thread":
        return job_doorstep(reference, current, 1)
    return {"floor": job_floor, "evidently": job_evidently, "nannyml": job_nannyml}[tool](
        reference, current
    )


def child(argv: list[str]) -> None:
    """``bench_drift.py --child TOOL REFERENCE CURRENT OUT``: one job, its figures to OUT."""
    tool, reference, current, out = argv
    imported = time.perf_counter()
    if tool.startswith("doorstep"):
        import doorstep.core.stats.drift  # noqa: F401
    elif tool == "evidently":
        import evidently  # noqa: F401
    elif tool == "nannyml":
        import nannyml  # noqa: F401
    import scipy.stats  # noqa: F401

    imported = time.perf_counter() - imported
    result = run_job(tool, Path(reference), Path(current))
    result["import_seconds"] = imported
    result["peak_rss_bytes"] = peak_rss_self()
    Path(out).write_text(json.dumps(result, default=str), encoding="utf-8")


def peak_rss_self() -> int:
    """This process's peak resident set size (``VmHWM``): unlike ``wait4``'s ``ru_maxrss``,
    it does not count the parent's memory that a forked child starts with."""
    with open("/proc/self/status", encoding="ascii") as fh:
        for line in fh:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    import resource  # pragma: no cover - not on Linux

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


# --- the parent ---------------------------------------------------------------------------------


def python_for(tool: str) -> Path | None:
    if tool in ("evidently", "nannyml"):
        python = VENVS / tool / "bin" / "python"
        return python if python.exists() else None
    return Path(sys.executable)


def measure(tool: str, reference: Path, current: Path, work: Path) -> dict[str, Any]:
    python = python_for(tool)
    assert python is not None
    out = work / f"{tool}.json"
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    if tool == "doorstep-1thread":
        env["POLARS_MAX_THREADS"] = "1"
    command = [str(python), str(SCRIPT), "--child", tool, str(reference), str(current), str(out)]
    started = time.perf_counter()
    process = subprocess.Popen(
        command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    output = process.stdout.read() if process.stdout is not None else ""
    _, status, usage = os.wait4(process.pid, 0)
    wall = time.perf_counter() - started
    code = os.waitstatus_to_exitcode(status)
    if code != 0:
        raise RuntimeError(f"{tool} exited with {code}:\n{output[-3000:]}")
    result: dict[str, Any] = json.loads(out.read_text(encoding="utf-8"))
    result["wait4_maxrss_bytes"] = usage.ru_maxrss * 1024  # includes the parent's at fork
    result["process_seconds"] = wall
    return result


def agreement(ours: dict[str, Any], theirs: dict[str, Any], keys: list[str]) -> float | None:
    """Largest relative difference over the statistics both report."""
    worst: float | None = None
    for column, values in theirs.items():
        for key in keys:
            a, b = ours.get(column, {}).get(key), values.get(key)
            if a is None or b is None:
                continue
            diff = abs(a - b) / max(abs(b), 1e-300)
            worst = diff if worst is None else max(worst, diff)
    return worst


def main(argv: list[str] | None = None) -> dict[str, Any]:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--child"]:
        child(argv[1:])
        return {}
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000, help="rows of each side")
    parser.add_argument("--only", default=",".join(TOOLS), help=f"tools: {','.join(TOOLS)}")
    parser.add_argument("--repeat", type=int, default=2, help="runs of each tool; best counts")
    parser.add_argument("--data-dir", type=Path, default=DATA_DIR)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    tools = [t.strip() for t in args.only.split(",") if t.strip()]
    if unknown := set(tools) - set(TOOLS):
        parser.error(f"unknown tools {sorted(unknown)}; choose from {','.join(TOOLS)}")

    from bench.common import machine_info, write_json

    reference, current = ensure_data(args.rows, args.data_dir)
    work = args.data_dir / "drift-work"
    work.mkdir(parents=True, exist_ok=True)
    results: dict[str, Any] = {"machine": machine_info(), "rows": args.rows, "skipped": {}}
    runs: dict[str, list[dict[str, Any]]] = {}
    for tool in tools:
        if python_for(tool) is None:
            message = f"not installed (run bench/peers/setup.sh {tool})"
            print(f"skipping {tool}: {message}")
            results["skipped"][tool] = message
    active = [t for t in tools if t not in results["skipped"]]
    for rep in range(max(1, args.repeat)):
        for tool in active:  # interleaved: a busy moment slows one run of each, not one tool
            run = measure(tool, reference, current, work)
            runs.setdefault(tool, []).append(run)
            print(
                f"[run {rep + 1}] {tool}: {run['seconds']:.2f} s, "
                f"peak {run['peak_rss_bytes'] / 1024**2:,.0f} MiB "
                f"(imports {run['import_seconds']:.1f} s)"
            )
    best = {t: min(r, key=lambda x: x["seconds"]) for t, r in runs.items()}
    results["runs"] = {
        t: [{k: v for k, v in x.items() if k != "stats"} for x in r] for t, r in runs.items()
    }
    results["best"] = {
        t: {
            "seconds": b["seconds"],
            "peak_rss_bytes": max(x["peak_rss_bytes"] for x in runs[t]),
            "import_seconds": b["import_seconds"],
            "stats": b["stats"],
        }
        for t, b in best.items()
    }
    report(results, best, runs)
    if args.json:
        write_json(args.json, results)
    return results


def report(
    results: dict[str, Any], best: dict[str, dict[str, Any]], runs: dict[str, list[dict[str, Any]]]
) -> None:
    from bench.common import print_table

    ratios: dict[str, float] = {}
    ours = best.get("doorstep")
    rows: list[list[str]] = []
    labels = {
        "doorstep": "doorstep (build_profile + compare)",
        "doorstep-1thread": "doorstep, one thread",
        "floor": "floor: plain numpy/scipy",
        "evidently": "Evidently 0.7.23 DataDriftPreset",
        "nannyml": "NannyML 0.13.1 drift + quality",
    }
    for tool, run in best.items():
        peak = max(x["peak_rss_bytes"] for x in runs[tool])
        ratio = ""
        if ours is not None and tool != "doorstep":
            speed = run["seconds"] / ours["seconds"]
            ratios[f"{tool}_over_doorstep_seconds"] = speed
            ratio = f"doorstep {speed:.1f}x faster" if speed >= 1 else f"{1 / speed:.1f}x slower"
            memory = max(x["peak_rss_bytes"] for x in runs["doorstep"]) / peak
            ratios[f"doorstep_over_{tool}_peak"] = memory
            ratio += f"; memory {memory:.2f}x"
        rows.append(
            [
                labels[tool],
                f"{run['seconds']:.2f}",
                f"{peak / 1024**2:,.0f}",
                f"{run['import_seconds']:.1f}",
                ratio,
            ]
        )
    print_table(
        f"Drift and quality, {results['rows']:,} reference x {results['rows']:,} current rows, "
        f"{len(FEATURES)} features",
        ["tool", "seconds", "peak RSS (MiB)", "imports (s)", "vs doorstep"],
        rows,
    )
    if ours is not None:
        print(f"doorstep flagged: {', '.join(ours.get('flagged', []) or []) or 'none'}")
        if "evidently" in best:
            diff = agreement(
                ours["stats"], best["evidently"]["stats"], ["wasserstein_norm", "js_distance"]
            )
            if diff is not None:
                ratios["max_rel_diff_vs_evidently"] = diff
        if "floor" in best:
            diff = agreement(
                ours["stats"],
                best["floor"]["stats"],
                ["missing_rate", "wasserstein_norm", "js_distance", "ks_pvalue", "chi2_pvalue"],
            )
            if diff is not None:
                ratios["max_rel_diff_vs_floor"] = diff
        if "evidently" in best:
            speed = ratios["evidently_over_doorstep_seconds"]
            memory = ratios["doorstep_over_evidently_peak"]
            results["targets"] = {
                "10x_faster_than_evidently": speed >= SPEEDUP_VS_EVIDENTLY,
                "half_evidently_memory": memory <= MEMORY_VS_EVIDENTLY,
            }
        if "nannyml" in best:
            results.setdefault("targets", {})["faster_than_nannyml"] = (
                ratios["nannyml_over_doorstep_seconds"] > 1
            )
        for name, met in results.get("targets", {}).items():
            print(f"target {name}: {'met' if met else 'NOT met'}")
    for name, value in ratios.items():
        print(f"ratio {name}: {value:.4g}")
    results["ratios"] = ratios


if __name__ == "__main__":
    main()
