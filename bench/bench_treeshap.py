"""Exact reasons for every row: doorstep's linear-treeshap against LightGBM's ``pred_contrib``,
with the same thread count, measured in the same run.

    .venv/bin/python -m bench.bench_treeshap --json treeshap.json
    .venv/bin/python -m bench.bench_treeshap --rows 2000 --deep-rows 300 --threads 1,2 --repeat 3

Models (LightGBM, binary, native categoricals), cached in ``bench/.data/``:

- **churn** — the churn example's model (``doorstep.examples.churn.train_model``: 200 trees,
  31 leaves) on its generated customers;
- **deep** — 500 trees, ``max_depth=10``, ``num_leaves=255``, trained on 50,000 rows of the
  benchmarks' 23 features (``bench/common.py``).

Per model and thread count: the floor is ``Booster.predict(matrix, pred_contrib=True,
num_threads=t)`` on the model's feature matrix; doorstep is ``linear_tree_shap(forest, matrix,
threads=t)`` followed by the top-3 reasons of every row (``argpartition`` on the absolute
values; the floor's time does not include it). Both run ``--repeat`` times, interleaved, best
run counts. The values are checked against the floor's (largest absolute difference printed).
Also reported: the trees' compilation at load (seconds, bytes), and one-row latency through the
model adapter (``predict`` alone, ``predict`` + ``contributions`` with ``linear-treeshap``, with
``lightgbm-native``), the in-process part of an online decision.

Target (issue 19): doorstep ≤ 0.33x the floor's time, both models, one thread and two.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import polars as pl

from bench.common import DATA_DIR, machine_info, print_table, time_best, write_json

TARGET = 0.33
TOP = 3


def churn_model(data_dir: Path) -> tuple[Path, pl.DataFrame]:
    from doorstep.examples.churn import generate_customers, train_model

    path = data_dir / "treeshap-churn-200.txt"
    frame = generate_customers(20_000)
    if not path.exists():
        booster: Any = train_model(frame, trees=200)
        booster.save_model(str(path))
    return path, frame.drop("churned", strict=False)


def deep_model(data_dir: Path) -> tuple[Path, pl.DataFrame]:
    import lightgbm as lgb
    import pandas as pd
    import pyarrow as pa

    from bench.common import CATEGORIES, FEATURES, _chunks

    tables, logits = zip(*_chunks(50_000, seed=11), strict=True)
    table = pa.concat_tables(tables).select(FEATURES)
    path = data_dir / "treeshap-deep-500.txt"
    if not path.exists():
        logit = np.concatenate(logits)
        labels = np.random.default_rng(12).random(table.num_rows) < 1.0 / (1.0 + np.exp(-logit))
        pdf = table.to_pandas()
        for column, values in CATEGORIES.items():
            pdf[column] = pd.Categorical(pdf[column], categories=values)
        params = {
            "objective": "binary", "num_leaves": 255, "max_depth": 10, "learning_rate": 0.05,
            "min_data_in_leaf": 5, "verbose": -1, "seed": 3,
        }  # fmt: skip
        data = lgb.Dataset(pdf, labels.astype(np.float64), categorical_feature=list(CATEGORIES))
        partial = path.with_name(path.name + ".partial")
        lgb.train(params, data, num_boost_round=500).save_model(str(partial))
        partial.replace(path)
    frame = pl.from_arrow(table)
    assert isinstance(frame, pl.DataFrame)
    return path, frame


def top_reasons(values: npt.NDArray[np.float64]) -> npt.NDArray[np.intp]:
    flat = np.abs(values[:, 0, :])
    return np.argpartition(-flat, TOP - 1, axis=1)[:, :TOP]


def measure(
    name: str, path: Path, frame: pl.DataFrame, rows: int, threads: list[int], repeat: int
) -> dict[str, Any]:
    import lightgbm as lgb

    from doorstep.models.lightgbm import LightGBMModel

    booster = lgb.Booster(model_file=str(path))
    model = LightGBMModel.from_booster(lgb.Booster(model_file=str(path)), task="binary")
    started = time.perf_counter()
    model.use_explainer("linear")
    first_use = time.perf_counter() - started
    compiled = model.explainer_precomputation()
    assert compiled is not None
    forest = model._explainer.forest()
    assert forest is not None
    batch = frame.head(rows)
    matrix = model._matrix(batch)
    from doorstep.explainers.linear_treeshap import linear_tree_shap

    linear_tree_shap(forest, matrix[:4], threads=max(threads))  # warm
    out: dict[str, Any] = {
        "model": name,
        "trees": int(booster.num_trees()),
        "leaves": int(booster.dump_model()["tree_info"][0]["num_leaves"]),
        "rows": matrix.shape[0],
        "compile_seconds": compiled[0],
        "compile_bytes": compiled[1],
        "first_use_seconds": first_use,
        "quadrature_points": int(forest.tree_points.max()),
        "max_depth": int(forest.tree_depth.max()),
        "threads": {},
    }
    for t in threads:
        floor_runs: list[float] = []
        ours_runs: list[float] = []
        values = reference = np.zeros(0)
        for _ in range(repeat):  # interleaved

            def floor(t: int = t) -> npt.NDArray[np.float64]:
                return np.asarray(booster.predict(matrix, pred_contrib=True, num_threads=t))

            timing, reference = time_best(floor, 1)
            floor_runs.append(timing.best)

            def ours(t: int = t) -> npt.NDArray[np.float64]:
                v, _ = linear_tree_shap(forest, matrix, threads=t)
                top_reasons(v)
                return v

            timing, values = time_best(ours, 1)
            ours_runs.append(timing.best)
        error = float(np.abs(values[:, 0, :] - np.asarray(reference)[:, :-1]).max())
        out["threads"][str(t)] = {
            "floor_seconds": min(floor_runs),
            "doorstep_seconds": min(ours_runs),
            "ratio": min(ours_runs) / min(floor_runs),
            "max_abs_difference": error,
        }
    one = batch.head(1)
    model.use_explainer("linear")
    predict, _ = time_best(lambda: model.predict(one), 200)
    linear, _ = time_best(lambda: (model.predict(one), model.contributions(one)), 200)
    model.use_explainer("native")
    native, _ = time_best(lambda: (model.predict(one), model.contributions(one)), 200)
    out["one_row_ms"] = {
        "predict": predict.best * 1e3,
        "predict+linear": linear.best * 1e3,
        "predict+native": native.best * 1e3,
    }
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=5_000, help="rows explained (churn)")
    parser.add_argument("--deep-rows", type=int, default=1_000, help="rows explained (deep)")
    parser.add_argument("--threads", default="1,2")
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--only", default="churn,deep")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    DATA_DIR.mkdir(parents=True, exist_ok=True)
    threads = [int(t) for t in args.threads.split(",")]
    results = []
    for name in args.only.split(","):
        path, frame = churn_model(DATA_DIR) if name == "churn" else deep_model(DATA_DIR)
        rows = args.rows if name == "churn" else args.deep_rows
        results.append(measure(name, path, frame, rows, threads, args.repeat))
    table = []
    for r in results:
        for t, m in r["threads"].items():
            table.append(
                [
                    f"{r['model']} ({r['trees']} trees, {r['leaves']} leaves)",
                    t,
                    f"{r['rows']:,}",
                    f"{m['floor_seconds']:.3f}",
                    f"{m['doorstep_seconds']:.3f}",
                    f"{m['ratio']:.2f}x",
                    "yes" if m["ratio"] <= TARGET else "no",
                    f"{m['max_abs_difference']:.1e}",
                ]
            )
    print_table(
        "Top-3 reasons for every row: linear-treeshap vs pred_contrib (same threads)",
        ["model", "threads", "rows", "pred_contrib s", "doorstep s", "ratio", "≤ 0.33x", "max |Δ|"],
        table,
    )
    print_table(
        "Load-time compilation and one-row latency",
        ["model", "compile s", "MB", "q", "predict ms", "+linear ms", "+native ms"],
        [
            [
                r["model"],
                f"{r['compile_seconds']:.2f}",
                f"{r['compile_bytes'] / 2**20:.1f}",
                str(r["quadrature_points"]),
                f"{r['one_row_ms']['predict']:.3f}",
                f"{r['one_row_ms']['predict+linear']:.3f}",
                f"{r['one_row_ms']['predict+native']:.3f}",
            ]
            for r in results
        ],
    )
    if args.json:
        write_json(args.json, {"machine": machine_info(), "results": results})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
