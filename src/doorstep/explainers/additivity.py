"""Check that a model's contributions add up to its predictions, in the contributions' link.

``model.predict`` gives scores (probability of the positive class, class probabilities, or the
regression prediction); ``model.contributions`` gives ``base + values.sum(-1)`` in its ``link``
space. The comparison happens where it is well conditioned:

=========== ==================================================================================
link        compared
=========== ==================================================================================
identity    the prediction itself
probability the prediction itself (binary: the positive class)
logit       ``log(p / (1 - p))`` with the margin; where ``p`` is within ``1e-6`` of 0 or 1 the
            log-odds are ill-conditioned, so ``sigmoid(margin)`` is compared with ``p`` instead
softmax     ``softmax(margins)`` with the class probabilities
=========== ==================================================================================
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import polars as pl

from doorstep.core.ports import Model
from doorstep.errors import ExplanationError

__all__ = ["check_additivity"]

_TAIL = 1e-6
"""Probabilities closer than this to 0 or 1 are compared in probability space."""

F64 = npt.NDArray[np.float64]


def check_additivity(model: Model, batch: pl.DataFrame, *, atol: float = 1e-6) -> float:
    """Largest gap between contributions and predictions on ``batch``; raise if above ``atol``.

    Raises :class:`~doorstep.errors.ExplanationError` naming the model kind, the explanation
    method, the error, the worst row and the fix.
    """
    contributions = model.contributions(batch)
    predicted = np.asarray(model.predict(batch), dtype=np.float64)
    if predicted.ndim == 1:
        predicted = predicted[:, None]
    total = np.asarray(contributions.base + contributions.values.sum(axis=-1), dtype=np.float64)
    kind, method, link = model.metadata.kind, contributions.method, contributions.link
    if total.shape != predicted.shape:
        raise ExplanationError(
            f"The {kind} model's {method} contributions have {total.shape[-1]} output(s) per row "
            f"(base + values of shape {total.shape}) but its predictions have shape "
            f"{predicted.shape}. Set `explain.method: permutation` in the spec, or fix the "
            "model adapter."
        )
    if total.shape[0] == 0:
        return 0.0
    errors = _row_errors(total, predicted, link)
    worst = int(np.argmax(errors))
    error = float(errors[worst])
    if not error <= atol:
        raise ExplanationError(
            f"The {kind} model's {method} contributions do not add up to its predictions: max "
            f"error {error:.3g} ({link} space) at row {worst}, tolerance {atol:g}. Set "
            "`explain.method: permutation` in the spec to use the model-agnostic explanation, "
            "and report the model to the doorstep developers."
        )
    return error


def _row_errors(total: F64, predicted: F64, link: str) -> F64:
    """Per-row absolute error (max over outputs); non-finite values count as infinite."""
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        if link == "logit":
            p = predicted
            tail = (p < _TAIL) | (p > 1 - _TAIL)
            clipped = np.clip(p, _TAIL, 1 - _TAIL)
            in_logits = np.abs(total - np.log(clipped / (1 - clipped)))
            in_probability = np.abs(1 / (1 + np.exp(-total)) - p)
            gap = np.where(tail, in_probability, in_logits)
        elif link == "softmax":
            shifted = np.exp(total - total.max(axis=1, keepdims=True))
            gap = np.abs(shifted / shifted.sum(axis=1, keepdims=True) - predicted)
        else:
            gap = np.abs(total - predicted)
    gap = np.where(np.isfinite(gap), gap, np.inf)
    return np.asarray(gap.max(axis=1), dtype=np.float64)
