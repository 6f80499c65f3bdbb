"""Speed and memory of quality estimated before outcomes and of multivariate drift, each
against the computation it sits beside, measured in the same run.

    .venv/bin/python -m bench.bench_estimation --json estimation.json
    .venv/bin/python -m bench.bench_estimation --decisions 1000000 --window 100000 --repeat 3

- **Estimated quality** (CBPE) on ``--decisions`` decisions in one window, fed in the monitor's
  pages of 20,000: calibrated scores, the expected confusion matrix, the AUC bins and the
  expected value (:class:`~doorstep.core.stats.estimate.EstimatedQuality`). Against the
  existing live quality of as many labelled decisions
  (:class:`~doorstep.core.stats.quality.BinaryQuality`: DeLong AUC, precision, recall, Brier,
  calibration table) fed the same pages sorted by score as the store streams them. Target:
  at most 2x. Memory: the peak Python allocation of the estimate (``tracemalloc``) over the
  whole window, which must not grow with the window (a page and two arrays of 4,096 bins).
- **Estimated regression errors** (direct loss estimation) on ``--decisions`` decisions of
  five numeric inputs in one window, in pages of 20,000: the two loss regressors' predictions
  and their means (:class:`~doorstep.services.monitor.loss_model.LossObserver`). Against the
  live regression quality of as many labelled decisions
  (:class:`~doorstep.core.stats.quality.RegressionQuality`: MAE, RMSE, mean error) and the
  univariate drift of the same pages, whose pass the estimate rides in
  (:class:`~doorstep.core.stats.drift.WindowAccumulator`); the three interleaved, round by
  round. Target (the CBPE's): at most 2x live quality.
- **Multivariate drift** (PCA reconstruction error,
  :class:`~doorstep.core.stats.reconstruction.ReconstructionAccumulator`) of a ``--window``-row
  window of the benchmarks' 23 features, in pages of 20,000, against the univariate drift of
  the same window (:class:`~doorstep.core.stats.drift.WindowAccumulator`: every feature's
  statistics against the reference profile). Target: at most 1x.
"""

from __future__ import annotations

import argparse
import sys
import tracemalloc
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from bench.common import (
    CATEGORIES,
    DATA_DIR,
    FEATURES,
    ensure_rows,
    machine_info,
    print_table,
    time_best,
    write_json,
)
from doorstep.core.stats.calibration import fit_calibration
from doorstep.core.stats.drift import WindowAccumulator, build_profile
from doorstep.core.stats.drift_report import FeatureKind
from doorstep.core.stats.estimate import EstimatedQuality
from doorstep.core.stats.quality import BinaryQuality, RegressionQuality
from doorstep.core.stats.reconstruction import ReconstructionAccumulator, fit_reconstruction
from doorstep.services.monitor.loss_model import LossObserver, fit_loss

PAGE = 20_000
ESTIMATE_VS_QUALITY = 2.0
MULTIVARIATE_VS_UNIVARIATE = 1.0


def _decisions(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=n)
    scores = 1 / (1 + np.exp(-(3 * x - 1)))
    positive = rng.random(n) < 1 / (1 + np.exp(-(2 * x - 1)))
    return scores, positive


def estimation(decisions: int, repeat: int) -> dict[str, Any]:
    reference, labels = _decisions(50_000, 1)
    calibration = fit_calibration(reference, labels)
    scores, positive = _decisions(decisions, 2)
    predicted = scores >= 0.5
    value = np.where(predicted, 240.0, 0.0)
    cost = np.where(predicted, 30.0, 0.0)
    order = np.argsort(scores, kind="stable")
    s_sorted, p_sorted, d_sorted = scores[order], positive[order], predicted[order]
    pages = range(0, decisions, PAGE)

    def estimate() -> EstimatedQuality:
        found = EstimatedQuality(calibration, valued=True)
        for i in pages:
            page = slice(i, i + PAGE)
            found.add(scores[page], predicted[page], value[page], cost[page])
        found.result()
        return found

    def quality() -> BinaryQuality:
        found = BinaryQuality(bins=10)
        for i in pages:
            page = slice(i, i + PAGE)
            found.add(s_sorted[page], p_sorted[page], d_sorted[page])
        found.result()
        return found

    estimated, found = time_best(estimate, repeat)
    measured, _ = time_best(quality, repeat)
    tracemalloc.start()
    estimate()
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    result = found.result()
    return {
        "decisions": decisions,
        "estimate": estimated.as_dict(),
        "quality": measured.as_dict(),
        "ratio": estimated.best / measured.best,
        "peak_bytes": peak,
        "auc": result["auc"].value,
    }


def _machines(n: int, seed: int) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 5))
    truth = x @ np.array([3.0, -2.0, 1.0, 0.5, 0.0]) + rng.normal(0, 1 + np.abs(x[:, 0]), n)
    frame = pl.DataFrame({f"x{i}": x[:, i] for i in range(5)})
    score = x @ np.array([3.0, -2.0, 1.0, 0.5, 0.0])
    return frame.with_columns(score=score, outcome=truth)


def regression_estimation(decisions: int, repeat: int) -> dict[str, Any]:
    names = [f"x{i}" for i in range(5)]
    reference = _machines(50_000, 1)
    loss = fit_loss(
        reference,
        dict.fromkeys(names, False),
        reference["score"].to_numpy(),
        reference["outcome"].to_numpy(),
    )
    profile = build_profile(reference.select(names), features=dict.fromkeys(names, "numeric"))
    window = _machines(decisions, 2)
    pages = [window.slice(i, PAGE) for i in range(0, decisions, PAGE)]
    arrays = [(p["score"].to_numpy(), p["outcome"].to_numpy()) for p in pages]

    def estimate() -> float | None:
        observer = LossObserver(loss)
        for page in pages:
            observer.update(0, page)
        observer.finish(0)
        return observer.results[0][1]["mae"].value

    def quality() -> float | None:
        found = RegressionQuality()
        for score, outcome in arrays:
            found.add(score, outcome)
        return found.result().metrics["mae"].value

    def drift() -> str:
        accumulator = WindowAccumulator(profile)
        for page in pages:
            accumulator.update(page.select(names))
        return accumulator.result().status

    runs: dict[str, list[float]] = {"estimate": [], "quality": [], "drift": []}
    found: dict[str, Any] = {}
    for _ in range(max(1, repeat)):  # interleaved: each round runs all three
        for name, fn in (("estimate", estimate), ("quality", quality), ("drift", drift)):
            timing, found[name] = time_best(fn, 1)
            runs[name].append(timing.best)
    best = {name: min(times) for name, times in runs.items()}
    return {
        "decisions": decisions,
        "runs": runs,
        "best": best,
        "median": {name: float(np.median(times)) for name, times in runs.items()},
        "ratio": best["estimate"] / best["quality"],
        "ratio_drift": best["estimate"] / best["drift"],
        "estimated_mae": found["estimate"],
        "realised_mae": found["quality"],
    }


def _kinds() -> dict[str, FeatureKind]:
    return {n: ("categorical" if n in CATEGORIES else "numeric") for n in FEATURES}


def multivariate(window: int, repeat: int, data_dir: Path) -> dict[str, Any]:
    kinds = _kinds()
    reference = pl.read_parquet(ensure_rows(window, data_dir, seed=7), columns=FEATURES)
    current = pl.read_parquet(ensure_rows(window, data_dir, seed=8), columns=FEATURES)
    profile = build_profile(reference, features=kinds)
    model = fit_reconstruction(reference, kinds)
    assert model is not None
    pages = [current.slice(i, PAGE) for i in range(0, current.height, PAGE)]

    def univariate() -> str:
        accumulator = WindowAccumulator(profile)
        for page in pages:
            accumulator.update(page)
        return accumulator.result().status

    def reconstruction() -> str:
        accumulator = ReconstructionAccumulator(model)
        for page in pages:
            accumulator.update(page)
        return accumulator.result().status

    uni, _ = time_best(univariate, repeat)
    multi, status = time_best(reconstruction, repeat)
    return {
        "window": window,
        "features": len(kinds),
        "components": int(model.components.shape[0]),
        "univariate": uni.as_dict(),
        "multivariate": multi.as_dict(),
        "ratio": multi.best / uni.best,
        "status": status,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--decisions", type=int, default=1_000_000)
    parser.add_argument("--window", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--data-dir", type=Path, default=DATA_DIR)
    args = parser.parse_args(argv)
    args.data_dir.mkdir(parents=True, exist_ok=True)
    est = estimation(args.decisions, args.repeat)
    dle = regression_estimation(args.decisions, args.repeat)
    multi = multivariate(args.window, args.repeat, args.data_dir)
    print_table(
        "Estimated quality and multivariate drift (best of runs)",
        ["measure", "seconds", "floor", "floor seconds", "ratio", "target"],
        [
            [
                f"estimated quality, {est['decisions']:,} decisions",
                f"{est['estimate']['best']:.3f}",
                "live quality (BinaryQuality)",
                f"{est['quality']['best']:.3f}",
                f"{est['ratio']:.2f}x",
                f"≤ {ESTIMATE_VS_QUALITY:g}x",
            ],
            [
                f"estimated regression errors (DLE), {dle['decisions']:,} decisions",
                f"{dle['best']['estimate']:.3f}",
                "live quality (RegressionQuality)",
                f"{dle['best']['quality']:.3f}",
                f"{dle['ratio']:.2f}x",
                f"≤ {ESTIMATE_VS_QUALITY:g}x",
            ],
            [
                "the same",
                f"{dle['best']['estimate']:.3f}",
                "univariate drift of the same pages",
                f"{dle['best']['drift']:.3f}",
                f"{dle['ratio_drift']:.2f}x",
                "—",
            ],
            [
                f"multivariate drift, {multi['window']:,}-row window",
                f"{multi['multivariate']['best']:.3f}",
                "univariate drift (WindowAccumulator)",
                f"{multi['univariate']['best']:.3f}",
                f"{multi['ratio']:.2f}x",
                f"≤ {MULTIVARIATE_VS_UNIVARIATE:g}x",
            ],
        ],
    )
    print(
        f"DLE: estimated MAE {dle['estimated_mae']:.3f}, realised {dle['realised_mae']:.3f}; "
        f"estimate peak allocation {est['peak_bytes'] / 1e6:.1f} MB; "
        f"PCA components {multi['components']} of {multi['features']} features"
    )
    if args.json is not None:
        write_json(
            args.json,
            {"machine": machine_info(), "estimation": est, "dle": dle, "multivariate": multi},
        )
    met = (
        est["ratio"] <= ESTIMATE_VS_QUALITY
        and dle["ratio"] <= ESTIMATE_VS_QUALITY
        and multi["ratio"] <= MULTIVARIATE_VS_UNIVARIATE
    )
    print("targets met" if met else "targets missed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
