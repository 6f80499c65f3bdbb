"""Model-agnostic Shapley values by antithetic permutation sampling against a background sample.

The game is the *interventional* one: for a row ``x`` and a set ``S`` of features,
``v(S) = mean over background rows b of predict(x on S, b elsewhere)``. For each sampled
permutation of the features, and for its reverse (antithetic pairs cancel much of the sampling
noise), features join ``S`` one at a time and each is credited with the change of ``v``. Every
chain runs from ``v({}) = mean prediction on the background`` to ``v(all) = predict(x)``, so the
estimate is exactly additive by construction: ``base + values.sum(-1) == predict(x)`` up to
floating-point rounding, whatever the number of permutations. For a model that is additive in its
features (a linear model), every chain gives the exact value ``coef * (x - mean(background))``.

Hybrid rows are built by picking *whole columns* from the explained rows or from the background,
so columns of any dtype work (strings, categories, datetimes) and the model sees frames exactly
like the ones it scores. Many coalitions and rows go into each ``predict`` call.

Cost, for ``n`` rows, ``d`` features, ``P = permutations`` and ``B`` background rows, with
``R = ROWS_PER_CALL``: ``E = 2 P (d - 1)`` coalitions, each evaluated on ``n B`` hybrid rows,
plus one call on the background and one on the rows: ``2 P (d - 1) n B + B + n`` rows predicted
in all. Calls: if ``n B <= R``, ``2 + ceil(E / floor(R / (n B)))``; otherwise
``2 + E * ceil(n / floor(R / B))``. No call holds more than ``max(R, B)`` hybrid rows.

Why not ``shap.PermutationExplainer``: it explains one row at a time (at least one model call per
row, so batching across rows is impossible), and its maskers work on numeric arrays, so a polars
frame with string or datetime columns would have to be rebuilt from object arrays inside every
call. The numpy/polars implementation here batches across rows and coalitions instead.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import numpy.typing as npt
import polars as pl

from doorstep.errors import ExplanationError

__all__ = ["ROWS_PER_CALL", "permutation_contributions", "predict_calls"]

ROWS_PER_CALL = 65_536
"""Target number of hybrid rows per ``predict`` call."""

F64 = npt.NDArray[np.float64]
Predict = Callable[[pl.DataFrame], npt.NDArray[np.float64]]


def permutation_contributions(
    predict: Predict,
    batch: pl.DataFrame,
    background: pl.DataFrame,
    *,
    permutations: int = 8,
    seed: int = 0,
) -> tuple[F64, F64]:
    """Interventional Shapley estimate of ``predict`` on ``batch``: ``(values, base)``.

    ``values`` has shape ``(rows, outputs, features)`` (features in ``batch.columns`` order) and
    ``base`` ``(rows, outputs)``, the mean prediction on ``background``; both are in
    ``predict``'s output space. ``permutations`` antithetic pairs are sampled with ``seed``.
    """
    if permutations < 1:
        raise ValueError(f"The 'permutations' parameter must be >= 1. Got {permutations} instead.")
    if background.height == 0:
        raise ExplanationError(
            "Permutation explanations need a background sample, got an empty one. "
            "Give the spec a `reference` data set."
        )
    columns = batch.columns
    background = _aligned(background, batch)
    n, d = batch.height, len(columns)
    expected = _as_2d(predict(background), background.height).mean(axis=0)
    outputs = expected.shape[0]
    base = np.repeat(expected[None, :], n, axis=0)
    values = np.zeros((n, outputs, d))
    if n == 0 or d == 0:
        return values, base
    full = _as_2d(predict(batch), n)
    if full.shape[1] != outputs:
        raise ExplanationError(
            f"predict returned {full.shape[1]} outputs for the batch and {outputs} for the "
            "background; it must return the same number for every frame."
        )
    rng = np.random.default_rng(seed)
    chains = []
    for _ in range(permutations):
        order = rng.permutation(d)
        chains += [order, order[::-1]]
    coalitions = [(c, j) for c in range(len(chains)) for j in range(1, d)]
    worth = _evaluate(predict, batch, background, chains, coalitions, outputs)
    for c, order in enumerate(chains):
        previous = base
        for j in range(d):
            current = worth[(c, j + 1)] if j + 1 < d else full
            values[:, :, order[j]] += current - previous
            previous = current
    values /= len(chains)
    return values, base


def predict_calls(n: int, d: int, permutations: int, background: int) -> int:
    """Number of ``predict`` calls :func:`permutation_contributions` makes (the bound above)."""
    if n == 0 or d == 0:
        return 1
    coalitions = 2 * permutations * (d - 1)
    if coalitions == 0:
        return 2
    if n * background <= ROWS_PER_CALL:
        return 2 + math.ceil(coalitions / max(1, ROWS_PER_CALL // (n * background)))
    return 2 + coalitions * math.ceil(n / max(1, ROWS_PER_CALL // background))


def _evaluate(
    predict: Predict,
    batch: pl.DataFrame,
    background: pl.DataFrame,
    chains: list[npt.NDArray[np.intp]],
    coalitions: list[tuple[int, int]],
    outputs: int,
) -> dict[tuple[int, int], F64]:
    """``v(S)`` for every (chain, prefix length), batched into few ``predict`` calls."""
    n, size = batch.height, background.height
    per_chunk = max(1, ROWS_PER_CALL // size)
    if n * size <= ROWS_PER_CALL:
        row_chunks = [np.arange(n)]
        per_call = max(1, ROWS_PER_CALL // (n * size))
    else:
        row_chunks = [np.arange(s, min(n, s + per_chunk)) for s in range(0, n, per_chunk)]
        per_call = 1
    jobs = [(key, rows) for key in coalitions for rows in row_chunks]
    worth = {key: np.zeros((n, outputs)) for key in coalitions}
    columns = batch.columns
    for start in range(0, len(jobs), per_call):
        group = jobs[start : start + per_call]
        frames = []
        for (chain, length), rows in group:
            chosen = {columns[i] for i in chains[chain][:length]}
            frames.append(_hybrid(batch, background, rows, chosen))
        predicted = _as_2d(
            predict(pl.concat(frames, how="vertical")), sum(f.height for f in frames)
        )
        offset = 0
        for key, rows in group:
            block = predicted[offset : offset + rows.size * size]
            worth[key][rows] = block.reshape(rows.size, size, outputs).mean(axis=1)
            offset += rows.size * size
    return worth


def _hybrid(
    batch: pl.DataFrame, background: pl.DataFrame, rows: npt.NDArray[np.intp], chosen: set[str]
) -> pl.DataFrame:
    """Each of ``rows`` repeated once per background row: ``chosen`` columns from the row."""
    size = background.height
    from_rows = pl.Series(np.repeat(rows, size))
    from_background = pl.Series(np.tile(np.arange(size), rows.size))
    own = [c for c in batch.columns if c in chosen]
    other = [c for c in batch.columns if c not in chosen]
    parts = [
        batch.select(own).select(pl.all().gather(from_rows)),
        background.select(other).select(pl.all().gather(from_background)),
    ]
    return pl.concat(parts, how="horizontal").select(batch.columns)


def _aligned(background: pl.DataFrame, batch: pl.DataFrame) -> pl.DataFrame:
    missing = [c for c in batch.columns if c not in background.columns]
    if missing:
        raise ExplanationError(
            f"The background sample lacks the column(s) {missing} of the batch. Give the spec a "
            "`reference` data set with every input field."
        )
    try:
        return background.select(batch.columns).cast(batch.schema)
    except pl.exceptions.PolarsError as error:
        raise ExplanationError(
            f"The background sample's column types do not match the batch's: {error}"
        ) from error


def _as_2d(predicted: npt.ArrayLike, rows: int) -> F64:
    array = np.asarray(predicted, dtype=np.float64)
    if array.ndim == 1:
        array = array[:, None]
    if array.ndim != 2 or array.shape[0] != rows:
        raise ExplanationError(
            f"predict must return (rows,) or (rows, outputs) for {rows} rows, got shape "
            f"{array.shape}."
        )
    return array
