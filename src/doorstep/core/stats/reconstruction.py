"""Multivariate drift: how badly the reference's main directions rebuild a window's rows (PCA
reconstruction error, the method of NannyML's ``DataReconstructionDriftCalculator``).

**Fitted once on the reference.** Each input becomes a number — a numeric one as it is, its
missing values replaced by the reference mean; a categorical one by its category's share of the
reference (unseen and missing: 0) — then standardised by the reference mean and standard
deviation. A principal component analysis keeps the fewest components that explain 65% of the
reference's variance. The profile keeps the means, scales, shares and components: a few
kilobytes.

**Per window.** Each row is standardised, projected on the components and rebuilt from them;
its reconstruction error is the Euclidean distance between the row and its rebuilding. The
window's score is the mean error (streamed: sums only), with its normal interval. A change in
how inputs move together — a correlation that breaks, a mix of segments that shifts — raises it
even when no single input's distribution moves.

**Status.** ``increase`` is the window's mean error over the reference's, less one. It is
``ok`` unless the window's whole interval lies above the reference's mean error *and* the
increase reaches ``warn`` (default 0.05) or ``alert`` (0.10): an effect-size rule like the
univariate statistics', where NannyML alerts outside the reference chunks' mean ± 3σ and so
alarms on ever smaller changes as windows grow. Fewer than ``min_rows`` rows:
``insufficient_data``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import polars as pl

from doorstep.core.stats.drift_report import (
    DEFAULT_THRESHOLDS,
    FeatureKind,
    ReconstructionDrift,
    Status,
    Threshold,
)
from doorstep.core.stats.intervals import CONFIDENCE, Interval, MeanSums, mean_interval

__all__ = [
    "ReconstructionAccumulator",
    "ReconstructionDrift",
    "ReconstructionModel",
    "fit_reconstruction",
]

Floats = npt.NDArray[np.float64]
EXPLAINED_VARIANCE = 0.65
FIT_ROWS = 100_000
"""Reference rows the PCA is fitted on (a seeded sample above it)."""


@dataclass(frozen=True, eq=False)
class ReconstructionModel:
    """The encoding and the principal components fitted on the reference."""

    columns: tuple[str, ...]
    kinds: Mapping[str, FeatureKind]
    fill: Floats
    """Per column: the value a missing numeric takes (the reference mean)."""
    shares: Mapping[str, Mapping[str, float]]
    """Per categorical column: each category's share of the reference."""
    center: Floats
    scale: Floats
    components: Floats
    """``(k, d)``: the principal directions kept."""
    reference_error: float
    """The reference rows' mean reconstruction error."""
    reference_std: float

    def encode(self, frame: pl.DataFrame) -> Floats:
        """``frame``'s columns as the standardised matrix the components apply to (one
        columnar pass, then one copy into numpy)."""
        columns = []
        for j, name in enumerate(self.columns):
            column = pl.col(name) if name in frame.columns else pl.lit(None)
            if self.kinds[name] == "numeric":
                value = column.cast(pl.Float64, strict=False)
                value = pl.when(value.is_finite()).then(value).otherwise(float(self.fill[j]))
            else:
                mapping = self.shares[name]
                value = column.cast(pl.String).replace_strict(
                    list(mapping), list(mapping.values()), default=0.0, return_dtype=pl.Float64
                )
            columns.append(value.fill_null(0.0).alias(f"c{j}"))
        raw = frame.select(columns).to_numpy().astype(np.float64, copy=False)
        return (raw - self.center) / self.scale

    def errors(self, frame: pl.DataFrame) -> Floats:
        """Each row's reconstruction error: the part of the row outside the components' span,
        ``|x|² - |x Cᵀ|²`` (the components are orthonormal)."""
        x = self.encode(frame)
        # einsum, not ``@``: BLAS threads would fight the server's for a few flops a row
        projected = np.einsum("ij,kj->ik", x, self.components, optimize=False)
        squared = np.sum(x * x, axis=1) - np.sum(projected * projected, axis=1)
        return np.asarray(np.sqrt(np.maximum(squared, 0.0)), dtype=np.float64)

    def to_dict(self) -> dict[str, Any]:
        return {
            "columns": list(self.columns),
            "kinds": dict(self.kinds),
            "fill": self.fill.tolist(),
            "shares": {k: dict(v) for k, v in self.shares.items()},
            "center": self.center.tolist(),
            "scale": self.scale.tolist(),
            "components": self.components.tolist(),
            "reference_error": self.reference_error,
            "reference_std": self.reference_std,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ReconstructionModel:
        columns = tuple(data["columns"])
        return cls(
            columns,
            dict(data["kinds"]),
            np.asarray(data["fill"], dtype=np.float64),
            {k: dict(v) for k, v in data["shares"].items()},
            np.asarray(data["center"], dtype=np.float64),
            np.asarray(data["scale"], dtype=np.float64),
            np.asarray(data["components"], dtype=np.float64).reshape(-1, len(columns)),
            float(data["reference_error"]),
            float(data["reference_std"]),
        )


def fit_reconstruction(
    reference: pl.DataFrame, kinds: Mapping[str, FeatureKind]
) -> ReconstructionModel | None:
    """The reconstruction model of ``reference``'s columns of ``kinds`` (``None`` with fewer
    than two columns or two rows: nothing to rebuild from)."""
    columns = tuple(name for name in kinds if name in reference.columns)
    if len(columns) < 2 or reference.height < 2:
        return None
    if reference.height > FIT_ROWS:
        reference = reference.sample(FIT_ROWS, seed=7)
    fill = np.zeros(len(columns))
    shares: dict[str, dict[str, float]] = {}
    for j, name in enumerate(columns):
        column = reference[name]
        if kinds[name] == "numeric":
            values = column.cast(pl.Float64, strict=False).to_numpy().astype(np.float64)
            finite = values[np.isfinite(values)]
            fill[j] = float(finite.mean()) if finite.size else 0.0
        else:
            counts = column.cast(pl.String).drop_nulls().value_counts()
            total = float(reference.height)
            shares[name] = {
                str(k): float(v) / total
                for k, v in zip(counts[name].to_list(), counts["count"].to_list(), strict=True)
            }
    draft = ReconstructionModel(
        columns, dict(kinds), fill, shares, np.zeros(len(columns)), np.ones(len(columns)),
        np.zeros((0, len(columns))), 0.0, 0.0,
    )  # fmt: skip
    raw = draft.encode(reference)
    center = raw.mean(axis=0)
    scale = raw.std(axis=0)
    scale = np.where(scale > 0, scale, 1.0)
    x = (raw - center) / scale
    _, singular, vt = np.linalg.svd(x, full_matrices=False)
    explained = np.cumsum(singular**2) / max(float(np.sum(singular**2)), 1e-300)
    k = int(np.searchsorted(explained, EXPLAINED_VARIANCE) + 1)
    components = vt[: min(k, len(columns))]
    projected = np.einsum("ij,kj->ik", x, components, optimize=False)
    squared = np.sum(x * x, axis=1) - np.sum(projected * projected, axis=1)
    errors = np.sqrt(np.maximum(squared, 0.0))
    return ReconstructionModel(
        columns, dict(kinds), fill, shares, center, scale, components,
        float(errors.mean()), float(errors.std(ddof=1)),
    )  # fmt: skip


class ReconstructionAccumulator:
    """A window's reconstruction errors, summed chunk by chunk."""

    def __init__(
        self,
        model: ReconstructionModel,
        *,
        threshold: Threshold = DEFAULT_THRESHOLDS.reconstruction_increase,
        min_rows: int = 1000,
        confidence: float = CONFIDENCE,
    ) -> None:
        self.model, self.threshold, self.min_rows = model, threshold, min_rows
        self.confidence = confidence
        self._sums = MeanSums()

    def update(self, frame: pl.DataFrame) -> None:
        if frame.height == 0:
            return
        errors = self.model.errors(frame)
        self._sums.add(errors.size, float(errors.sum()), float(np.dot(errors, errors)))

    def result(self) -> ReconstructionDrift:
        model = self.model
        error = _rounded(mean_interval(self._sums, self.confidence))
        increase = (
            error.value / model.reference_error - 1
            if error.value is not None and model.reference_error > 0
            else None
        )
        status: Status
        if self._sums.n < self.min_rows or increase is None or not math.isfinite(increase):
            status = "insufficient_data"
        elif error.low is None or error.low <= model.reference_error:
            status = "ok"
        elif increase >= self.threshold.alert:
            status = "alert"
        elif increase >= self.threshold.warn:
            status = "warn"
        else:
            status = "ok"
        return ReconstructionDrift(
            self._sums.n, int(model.components.shape[0]), model.reference_error, error, increase,
            status,
        )  # fmt: skip


def _rounded(interval: Interval) -> Interval:
    """``interval`` to 12 significant digits: sums taken over other page boundaries differ in
    the last bits, and a report must not depend on how it was paged."""

    def cut(x: float | None) -> float | None:
        return None if x is None else float(f"{x:.12g}")

    return Interval(cut(interval.value), cut(interval.low), cut(interval.high))
