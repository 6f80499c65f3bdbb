"""Shared handling of what models return: the task a model was trained for, which class is the
positive one, link functions, and contributions oriented towards the positive class."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from doorstep.core.ports import Contributions, Link, Task
from doorstep.core.suggest import did_you_mean
from doorstep.errors import ModelError

__all__ = [
    "check_task",
    "contributions_for",
    "positive_index",
    "sigmoid",
    "softmax",
]

F64 = npt.NDArray[np.float64]


def check_task(model: str, expected: Task, found: Task, detail: str) -> None:
    """Raise :class:`ModelError` when the spec's task and the model's own disagree."""
    if expected != found:
        raise ModelError(
            f"The spec says 'model.task: {expected}' but {model} is a {found} model ({detail}). "
            f"Set 'model.task: {found}' in the spec or point 'model.path' at a {expected} model."
        )


def positive_index(model: str, classes: Sequence[str], positive_class: str | None) -> int:
    """Index of the positive class among a binary model's classes (default: the second)."""
    if len(classes) != 2:
        raise ModelError(
            f"{model} has {len(classes)} classes ({', '.join(map(repr, classes))}), "
            "so it is not a binary classifier. Set 'model.task: multiclass' in the spec."
        )
    if positive_class is None:
        return 1
    wanted = str(positive_class)
    for index, label in enumerate(classes):
        if label == wanted or _same_number(label, wanted):
            return index
    raise ModelError(
        f"'model.positive_class: {wanted}' is not a class of {model}"
        f"{did_you_mean(wanted, classes)}; its classes are "
        f"{', '.join(map(repr, classes))}. Set 'model.positive_class' to one of them."
    )


def _same_number(a: str, b: str) -> bool:
    try:
        return float(a) == float(b)
    except ValueError:
        return a.lower() == b.lower() and a.lower() in ("true", "false")


def sigmoid(x: F64) -> F64:
    """Logistic function, stable for large magnitudes."""
    out: F64 = np.exp(-np.logaddexp(0.0, -x))
    return out


def softmax(x: F64) -> F64:
    """Softmax over the last axis."""
    shifted = x - x.max(axis=-1, keepdims=True)
    e = np.exp(shifted)
    out: F64 = e / e.sum(axis=-1, keepdims=True)
    return out


def contributions_for(
    values: F64,
    base: F64,
    *,
    link: Link,
    task: Task,
    positive: int,
    feature_names: list[str],
    method: str,
) -> Contributions:
    """Contributions with shapes ``(n, outputs, d)`` / ``(n, outputs)`` as the protocol wants.

    For binary models, an explanation with two outputs keeps the positive class's one, and one
    with a single output (for class 1) is turned round when class 0 is the positive class:
    negated in logit space, ``1 - p`` in probability space.
    """
    if values.ndim == 2:
        values = values[:, None, :]
    if base.ndim == 1:
        base = base[:, None]
    if task == "binary":
        if values.shape[1] == 2:
            values = values[:, positive : positive + 1, :]
            base = base[:, positive : positive + 1]
        elif positive == 0:
            values = -values
            base = (1.0 - base) if link == "probability" else -base
    return Contributions(
        values=np.ascontiguousarray(values, dtype=np.float64),
        base=np.ascontiguousarray(base, dtype=np.float64),
        link=link,
        feature_names=feature_names,
        method=method,
    )
