"""The calibration estimated quality stands on, fitted on an app's reference data: the model's
scores of the reference rows against the outcomes the reference file holds (its column named
``monitoring.outcome.field``), or the reason quality cannot be estimated."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import polars as pl

from doorstep.core.outcomes import canonical_label, outcome_semantics
from doorstep.core.stats.calibration import ScoreCalibration, fit_calibration

if TYPE_CHECKING:
    from doorstep.services.apps.loading import LoadedApp

__all__ = ["reference_calibration"]


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
