"""Protocols the core needs from the edge. Adapters implement them; the core never imports one.

A *batch* travelling through doorstep is a :class:`polars.DataFrame` whose columns are the spec's
input fields, already validated and typed by the input contract:

======== =====================================================================
type     polars dtype handed to a model
======== =====================================================================
int      ``Int64`` (nulls allowed only for optional fields)
float    ``Float64`` (nulls, never NaN, for missing values)
bool     ``Boolean``
category ``String`` holding one of the spec's allowed values
string   ``String``
datetime ``Datetime("us", "UTC")``
======== =====================================================================
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt
import polars as pl

__all__ = [
    "Contributions",
    "ExplainerChoice",
    "Link",
    "Model",
    "ModelAdapter",
    "ModelMetadata",
    "Task",
]

Task = Literal["binary", "multiclass", "regression"]

Link = Literal["logit", "identity", "softmax", "probability"]
"""Space in which contributions add up.

- ``logit``: binary classifiers explained in log-odds (LightGBM, XGBoost, tree ensembles);
  ``base + sum(values)`` is the raw margin and ``sigmoid(margin)`` the score.
- ``softmax``: multiclass margins per class.
- ``identity``: regression, in the target's units.
- ``probability``: explained directly in probability (model-agnostic fallback on ``predict``).
"""


@dataclass(frozen=True)
class ModelMetadata:
    """What a model says about itself, read from the artifact at load time."""

    kind: str
    """Adapter name, e.g. ``lightgbm``."""
    task: Task
    feature_names: list[str]
    """Input features in the order the model expects them (the spec's field names)."""
    content_hash: str
    """``sha256:<hex>`` of the artifact's bytes (every file, for a folder)."""
    classes: list[str] = field(default_factory=list)
    """Class labels as strings, for classifiers (binary: ``[negative, positive]``)."""
    categories: dict[str, list[str]] = field(default_factory=dict)
    """Categories the model was trained with, per categorical feature, in the model's code order."""
    library_version: str = ""
    extra: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Contributions:
    """Additive feature attributions for a batch.

    ``values`` has shape ``(rows, outputs, features)`` and ``base`` shape ``(rows, outputs)``;
    ``outputs`` is 1 for binary and regression models and the number of classes for multiclass.
    For every row and output, ``base + values.sum(-1)`` equals the model's output in ``link``
    space (checked at load time on reference rows).
    """

    values: npt.NDArray[np.float64]
    base: npt.NDArray[np.float64]
    link: Link
    feature_names: list[str]
    method: str
    """How they were computed: ``linear-treeshap``, ``lightgbm-native``, ``xgboost-native``,
    ``treeshap``, ``shap``, ``permutation``."""


@runtime_checkable
class Model(Protocol):
    """A loaded model: what the decision path needs from it."""

    metadata: ModelMetadata

    def predict(self, batch: pl.DataFrame) -> npt.NDArray[np.float64]:
        """Scores: ``(rows,)`` probability of the positive class (binary) or prediction
        (regression); ``(rows, classes)`` probabilities (multiclass)."""
        ...

    def contributions(self, batch: pl.DataFrame) -> Contributions:
        """Exact or bounded-approximate attributions, additive in ``link`` space."""
        ...


@runtime_checkable
class ModelAdapter(Model, Protocol):
    """A model class registered under the ``doorstep.models`` entry point group: it recognises
    and loads its artifacts, and its instances are :class:`Model` s."""

    @classmethod
    def can_load(cls, path: Path) -> bool:
        """Whether this adapter recognises the file or folder (cheap: reads a few bytes)."""
        ...

    @classmethod
    def load(
        cls,
        path: Path,
        *,
        task: Task,
        positive_class: str | None = None,
        reference: pl.DataFrame | None = None,
    ) -> Model:
        """Load the artifact. Raise :class:`doorstep.errors.ModelError` with a fix on failure.

        ``reference`` is a validated sample of training data (the spec's ``reference``); adapters
        that need a background sample for model-agnostic explanations keep a bounded part of it.
        """
        ...


@runtime_checkable
class ExplainerChoice(Protocol):
    """A model with two exact explanation methods: doorstep's ``linear-treeshap`` and the
    library's own routine (``lightgbm-native``, ``xgboost-native``, ``treeshap``)."""

    def use_explainer(self, method: Literal["auto", "linear", "native"]) -> str:
        """Explain with ``method`` from now on; returns the method name contributions will carry.

        ``auto`` takes ``linear-treeshap`` when the model's trees can be read exactly, else the
        library's routine; ``linear`` raises ``ExplanationError`` (with the reason) when they
        cannot. Compiles the trees on first use."""
        ...

    def explainer_precomputation(self) -> tuple[float, int] | None:
        """Seconds and bytes of the trees' compilation for ``linear-treeshap`` (``None``: not
        compiled, or not in use)."""
        ...
