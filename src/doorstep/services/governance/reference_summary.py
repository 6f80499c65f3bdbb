"""What a model card says about the reference data: each input's distribution in the sample the
spec names, and the model's quality on it when the sample carries the outcome.

Offline quality runs the reference rows through the one decision path
(:func:`doorstep.services.decide.batch.decide_batch`, without explanations), so a decision is
"predicted positive" exactly as live quality counts it (``monitoring.threshold``, else an action
other than ``none``), then measures it with the same accumulators as the monitoring report.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl

from doorstep.core.outcomes import canonical_label, outcome_semantics
from doorstep.core.stats.quality import BinaryQuality, MulticlassQuality, RegressionQuality
from doorstep.core.stats.quality_report import QualityReport
from doorstep.engines.files import read_sample
from doorstep.services.apps.loading import LoadedApp
from doorstep.services.decide.batch import decide_batch

__all__ = ["ColumnSummary", "ReferenceSummary", "summarise_reference"]

TOP_VALUES = 5


@dataclass(frozen=True)
class ColumnSummary:
    """One input of the reference sample."""

    name: str
    type: str
    missing: int
    minimum: float | None = None
    mean: float | None = None
    maximum: float | None = None
    top: tuple[tuple[str, int], ...] = ()
    """The most frequent values (categories, booleans, text) with their counts."""


@dataclass(frozen=True)
class ReferenceSummary:
    """The reference sample: where, how many rows, its inputs, and offline quality."""

    path: str | None
    rows: int = 0
    columns: tuple[ColumnSummary, ...] = ()
    label: str | None = None
    """The outcome column the sample carries (``monitoring.outcome.field``), if any."""
    quality: QualityReport | None = None
    """Quality of the model on the sample's labelled rows (``None`` without a label column)."""
    rejected: int = 0
    """Rows that break the input contract (left out of the quality)."""
    note: str = ""


def summarise_reference(app: LoadedApp) -> ReferenceSummary:
    """Summarise the spec's reference sample (``path`` ``None`` when the spec names none)."""
    ref = app.spec.reference
    if ref is None:
        return ReferenceSummary(None, note="The spec names no reference data (reference:).")
    path = app.root / ref.path
    sample = read_sample(path, ref.sample)
    columns = tuple(_column(sample, name, f.type) for name, f in app.spec.inputs.fields.items()
                    if name in sample.columns)  # fmt: skip
    semantics = outcome_semantics(app.spec)
    label = semantics.field
    if label not in sample.columns:
        return ReferenceSummary(
            str(Path(ref.path)),
            sample.height,
            columns,
            note=f"The reference sample has no {label!r} column (monitoring.outcome.field): "
            "no offline quality.",
        )
    quality, rejected = _quality(app, sample, label)
    return ReferenceSummary(str(Path(ref.path)), sample.height, columns, label, quality, rejected)


def _column(sample: pl.DataFrame, name: str, kind: str) -> ColumnSummary:
    series = sample[name]
    missing = series.null_count()
    if kind in ("int", "float") and series.dtype.is_numeric():
        present = series.drop_nulls().cast(pl.Float64).to_numpy()
        if present.size == 0:
            return ColumnSummary(name, kind, missing)
        low, mean, high = float(present.min()), float(present.mean()), float(present.max())
        return ColumnSummary(name, kind, missing, low, mean, high)
    counts = series.drop_nulls().cast(pl.String).value_counts(sort=True).head(TOP_VALUES)
    top = tuple((str(v), int(n)) for v, n in counts.iter_rows())
    return ColumnSummary(name, kind, missing, top=top)


def _quality(app: LoadedApp, sample: pl.DataFrame, label: str) -> tuple[QualityReport, int]:
    spec = app.spec
    semantics = outcome_semantics(spec)
    id_field = spec.inputs.id
    if id_field not in sample.columns:
        sample = sample.with_row_index(id_field, offset=1).cast({id_field: pl.String})
    batch = decide_batch(app, sample, explain=False)
    decided = batch.decisions
    rows = decided["row"].to_numpy() - 1
    labels = [canonical_label(v) for v in sample[label].gather(rows).to_list()]
    scores = decided["score"].to_numpy().astype(np.float64)
    minimum = spec.monitoring.min_samples.quality
    rejected = int(batch.rejects["row"].n_unique()) if batch.rejects.height else 0
    threshold = spec.monitoring.threshold
    predicted = (
        scores >= threshold if threshold is not None else decided["action"].to_numpy() != "none"
    )
    if semantics.kind == "value":
        values = np.array([np.nan if v is None else float(v) for v in labels])
        keep = ~np.isnan(values)
        regression = RegressionQuality(min_labelled=minimum)
        regression.add(scores[keep], values[keep])
        return regression.result(), rejected
    if spec.model.task == "multiclass":
        classes = decided["predicted_class"].to_list()
        known = [i for i, v in enumerate(labels) if v is not None]
        accuracy = MulticlassQuality(min_labelled=minimum)
        accuracy.add(np.array([classes[i] == labels[i] for i in known], dtype=bool))
        return accuracy.result(), rejected
    valid = np.array([v in (semantics.positive, semantics.negative) for v in labels])
    positive = np.array([v == semantics.positive for v in labels])
    order = np.argsort(scores[valid], kind="stable")
    binary = BinaryQuality(bins=spec.monitoring.calibration_bins, min_labelled=minimum)
    binary.add(scores[valid][order], positive[valid][order], predicted[valid][order])
    return binary.result(), rejected
