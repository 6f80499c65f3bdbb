"""The model-agnostic explanation used by adapters without an exact method: permutation
contributions against a bounded, seeded background sample of the spec's reference data."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import numpy.typing as npt
import polars as pl

from doorstep.core.ports import Contributions, Link, Model, ModelMetadata, Task
from doorstep.errors import ExplanationError

__all__ = [
    "BACKGROUND_ROWS",
    "PermutationModel",
    "background_sample",
    "permutation_explanation",
]

BACKGROUND_ROWS = 100
"""Reference rows kept as background (bounded so an explanation costs a fixed multiple of a
predict call)."""


def background_sample(
    reference: pl.DataFrame | None, *, rows: int = BACKGROUND_ROWS
) -> pl.DataFrame | None:
    """At most ``rows`` reference rows (seeded, so explanations are reproducible), or None."""
    if reference is None or reference.height == 0:
        return None
    return reference.sample(n=rows, seed=0) if reference.height > rows else reference


def permutation_explanation(
    predict: Callable[[pl.DataFrame], npt.NDArray[np.float64]],
    batch: pl.DataFrame,
    background: pl.DataFrame | None,
    *,
    task: Task,
    columns: list[str],
    outputs: int,
    model: str,
) -> Contributions:
    """Permutation contributions of ``predict`` (in its own output space) over ``columns``."""
    if background is None:
        raise ExplanationError(
            f"{model} has no exact explanation method, and the model-agnostic one needs "
            "background rows: add 'reference:' (a sample of the training data holding every "
            "feature) to the spec."
        )
    from doorstep.explainers.permutation import permutation_contributions

    missing = [c for c in columns if c not in background.schema]
    if missing:
        raise ExplanationError(
            f"The reference data lacks the feature(s) {', '.join(map(repr, missing))} that "
            f"{model} needs as background for its explanations."
        )
    frame = batch.select(columns)
    link: Link = "identity" if task == "regression" else "probability"
    if frame.height == 0:
        empty = np.zeros((0, outputs, len(columns)))
        return Contributions(empty, empty[:, :, 0], link, list(columns), "permutation")
    values, base = permutation_contributions(predict, frame, background.select(columns))
    return Contributions(
        values=np.asarray(values, dtype=np.float64).reshape(frame.height, -1, len(columns)),
        base=np.asarray(base, dtype=np.float64).reshape(frame.height, -1),
        link=link,
        feature_names=list(columns),
        method="permutation",
    )


class PermutationModel:
    """A model explained by the permutation fallback whatever else it supports (the spec's
    ``explain.method: permutation``, or a background size other than the adapter's own)."""

    def __init__(self, model: Model, background: pl.DataFrame, *, task: Task) -> None:
        self.inner = model
        self.metadata: ModelMetadata = model.metadata
        self.background = background
        self.task = task

    def predict(self, batch: pl.DataFrame) -> npt.NDArray[np.float64]:
        return self.inner.predict(batch)

    def contributions(self, batch: pl.DataFrame) -> Contributions:
        outputs = len(self.metadata.classes) if self.task == "multiclass" else 1
        return permutation_explanation(
            self.inner.predict,
            batch,
            self.background,
            task=self.task,
            columns=list(self.metadata.feature_names),
            outputs=outputs,
            model=f"the {self.metadata.kind} model",
        )
