"""The calibration estimated quality stands on, fitted on an app's reference data: the model's
scores of the reference rows against the outcomes the reference file holds (its column named
``monitoring.outcome.field``), or the reason quality cannot be estimated."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import polars as pl

from doorstep.core.outcomes import canonical_label, outcome_semantics
from doorstep.core.stats.calibration import ScoreCalibration, fit_calibration
from doorstep.core.stats.reference_thresholds import ReferenceLabels

if TYPE_CHECKING:
    from doorstep.services.apps.loading import LoadedApp

__all__ = ["reference_calibration", "reference_labels"]


def reference_calibration(
    app: LoadedApp, scores: pl.Series | None
) -> tuple[ScoreCalibration | None, str | None]:
    """The calibration of ``app``'s reference ``scores``, or ``None`` and why not."""
    spec = app.spec
    if spec.model.task != "binary" or scores is None:
        return None, (
            f"quality is estimated for binary classifiers only; this model is "
            f"{spec.model.task} (see monitoring.md, Estimated quality)"
        )
    semantics = outcome_semantics(spec)
    outcomes = app.reference_outcomes
    if outcomes is None:
        return None, (
            f"the reference data has no column {semantics.field!r} (monitoring.outcome.field) "
            "holding each row's outcome: add it to calibrate the scores"
        )
    labels = [canonical_label(value) for value in outcomes.to_list()]
    known = np.array([label in (semantics.positive, semantics.negative) for label in labels])
    positive = np.array([label == semantics.positive for label in labels])
    if known.sum() < 2:
        return None, (
            f"the reference column {semantics.field!r} holds no labels "
            f"{semantics.positive!r} or {semantics.negative!r}"
        )
    try:
        return fit_calibration(scores.to_numpy()[known], positive[known]), None
    except ValueError as exc:
        return None, f"the reference column {semantics.field!r}: {exc}"


def reference_labels(app: LoadedApp, scores: pl.Series | None) -> ReferenceLabels | None:
    """The reference rows holding an outcome, with the model's ``scores`` of them, in file
    order (``None`` for multiclass models or a reference without outcomes): what thresholds
    derived from the reference are measured on."""
    spec = app.spec
    outcomes = app.reference_outcomes
    if outcomes is None or scores is None or spec.model.task == "multiclass":
        return None
    values = scores.to_numpy().astype(np.float64)
    if spec.model.task == "regression":
        measured = outcomes.cast(pl.Float64, strict=False).to_numpy()
        known = ~np.isnan(measured) & ~np.isnan(values)
        return ReferenceLabels("regression", values[known], measured[known])
    semantics = outcome_semantics(spec)
    labels = [canonical_label(value) for value in outcomes.to_list()]
    known = np.array([label in (semantics.positive, semantics.negative) for label in labels])
    positive = np.array([label == semantics.positive for label in labels], dtype=np.float64)
    known &= ~np.isnan(values)
    return ReferenceLabels("binary", values[known], positive[known])
