"""scikit-learn models saved with joblib: a plain estimator, or a ``Pipeline`` (typically a
``ColumnTransformer`` of encoders and scalers before the estimator) fitted on a pandas
DataFrame whose column names are the spec's field names.

.. warning::
   joblib and pickle files run code when they are loaded. Load only files from a source you
   trust, exactly as you would run a Python script from it.

A joblib file holding a LightGBM or XGBoost scikit-learn wrapper (``LGBMClassifier``,
``XGBRegressor``, ...) or a bare booster is handed to :class:`LightGBMModel` /
:class:`XGBoostModel`, so that it gets the library's own exact explanations.
"""

from __future__ import annotations

from pathlib import Path
from types import ModuleType
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
import polars as pl

from doorstep.core.ports import Contributions, Link, Model, ModelMetadata, Task
from doorstep.errors import ExplanationError, ModelError
from doorstep.models.fallback import background_sample, permutation_explanation
from doorstep.models.frames import feature_columns, numeric_matrix, pandas_frame
from doorstep.models.loading import Artifact, ArtifactModel, head, import_library, thread_count
from doorstep.models.outputs import check_task, contributions_for, positive_index
from doorstep.models.sklearn_columns import (
    grouping_matrix,
    input_categories,
    input_groups,
    split_pipeline,
)
from doorstep.models.tree_explainer import LINEAR

__all__ = ["SklearnModel"]

_SUFFIXES = (".joblib", ".pkl", ".pickle", ".sav")
_PARALLEL_ROWS = 16  # below this many rows, one thread explains faster than two


class SklearnModel(ArtifactModel):
    """A scikit-learn estimator or Pipeline; exact TreeSHAP for tree models, else permutation.

    Pointed at explicitly (``kind: sklearn``), it unpickles any file, whatever its name and first
    byte (trusted sources only: unpickling runs code)."""

    metadata: ModelMetadata
    _label = "scikit-learn"
    _library = "joblib"

    def __init__(
        self,
        estimator: Any,
        metadata: ModelMetadata,
        *,
        positive: int,
        background: pl.DataFrame | None,
    ) -> None:
        self._estimator = estimator
        self.metadata = metadata
        self._positive = positive
        self._background = background
        self._named = hasattr(estimator, "feature_names_in_")
        self._known = {
            name: pl.Series(values, dtype=pl.String)
            for name, values in metadata.categories.items()
            if values
        }
        transformers, final = split_pipeline(estimator)
        self._transformers = transformers
        self._final = final
        self._tree_method: Literal["linear", "treeshap"] = "linear"

    def _exact(self) -> bool:
        from doorstep.explainers import sklearn_trees

        names = self.metadata.feature_names
        groups = input_groups(self._transformers, len(names)) if self._named else None
        return sklearn_trees.supports(self._final) and (
            not self._transformers or groups is not None
        )

    def use_explainer(self, method: Literal["auto", "linear", "native"]) -> str:
        """``linear-treeshap`` (``auto``, ``linear``) or numpy ``treeshap`` (``native``) for
        tree models; ``auto`` keeps the permutation fallback for the others."""
        if not self._exact():
            if method == "auto":
                return "permutation"
            raise ExplanationError(
                f"explain.method '{method}' is for tree models; "
                f"{self.metadata.extra['estimator']} is not one doorstep reads exactly."
            )
        self._tree_method = "treeshap" if method == "native" else "linear"
        return "treeshap" if method == "native" else LINEAR

    def explainer_precomputation(self) -> tuple[float, int] | None:
        """Seconds and bytes of the trees' compilation for ``linear-treeshap``."""
        from doorstep.explainers import sklearn_trees

        if self._tree_method != "linear" or not self._exact():
            return None
        forest = sklearn_trees.compiled_forest(self._final)
        return forest.seconds, forest.nbytes

    @classmethod
    def can_load(cls, path: Path) -> bool:
        """A pickle stream (first byte 0x80) or a file named ``*.joblib``/``*.pkl``."""
        return path.is_file() and (path.suffix.lower() in _SUFFIXES or head(path, 1) == b"\x80")

    @classmethod
    def _open(cls, path: Path, library: ModuleType) -> Any:
        """Unpickle a joblib file (trusted sources only: unpickling runs code)."""
        return library.load(path)

    @classmethod
    def _open_error(cls, path: Path, exc: Exception) -> str:
        return (
            f"{path} could not be read as a joblib/pickle file ({type(exc).__name__}: {exc}). "
            "Save the model with joblib.dump(model, 'model.joblib') using the same library "
            "versions as doorstep runs with."
        )

    @classmethod
    def _build(cls, estimator: Any, artifact: Artifact) -> Model:
        """The estimator, or the LightGBM/XGBoost adapter for those libraries' models."""
        handed = _native(estimator, artifact)
        if handed is not None:
            return handed
        if not hasattr(estimator, "predict"):
            raise ModelError(
                f"{artifact.path} holds a {type(estimator).__name__}, not a fitted scikit-learn "
                "estimator (it has no 'predict'). Save the fitted model or Pipeline itself."
            )
        return cls.from_estimator(
            estimator,
            task=artifact.task,
            positive_class=artifact.positive_class,
            reference=artifact.reference,
            source=artifact.source,
            digest=artifact.digest,
        )

    @classmethod
    def from_estimator(
        cls,
        estimator: Any,
        *,
        task: Task,
        positive_class: str | None = None,
        reference: pl.DataFrame | None = None,
        source: str = "<in-memory estimator>",
        digest: str = "",
    ) -> SklearnModel:
        """Wrap a fitted estimator or Pipeline already in memory."""
        sklearn = import_library("sklearn")
        classes = [str(c) for c in getattr(estimator, "classes_", [])]
        found: Task = (
            "regression" if not classes else "binary" if len(classes) == 2 else "multiclass"
        )
        check_task(source, task, found, f"{type(estimator).__name__} with classes {classes}")
        positive = positive_index(source, classes, positive_class) if task == "binary" else 1
        if hasattr(estimator, "feature_names_in_"):
            names = [str(n) for n in estimator.feature_names_in_]
        else:
            names = [f"x{i}" for i in range(int(getattr(estimator, "n_features_in_", 0)))]
        if not names:
            raise ModelError(
                f"{source}: the {type(estimator).__name__} does not say how many features it "
                "takes (no 'n_features_in_'). Is it fitted?"
            )
        metadata = ModelMetadata(
            kind="sklearn",
            task=task,
            feature_names=names,
            content_hash=digest,
            classes=classes,
            categories=input_categories(estimator, names),
            library_version=str(sklearn.__version__),
            extra={"estimator": type(estimator).__name__, "source": source},
        )
        return cls(estimator, metadata, positive=positive, background=background_sample(reference))

    def _input(self, batch: pl.DataFrame) -> Any:
        columns = feature_columns(
            batch,
            self.metadata.feature_names,
            positional=not self._named,
            model=self.metadata.extra["source"],
        )
        if not self._named:
            return numeric_matrix(batch, columns)
        unseen_as_null = [
            pl.when(pl.col(name).cast(pl.String).is_in(known)).then(pl.col(name)).alias(name)
            for name, known in self._known.items()
            if name in batch.schema
        ]
        return pandas_frame(batch.with_columns(unseen_as_null), columns)

    def predict(self, batch: pl.DataFrame) -> npt.NDArray[np.float64]:
        """Probability of the positive class, class probabilities, or the prediction."""
        task = self.metadata.task
        if batch.height == 0:
            return np.zeros((0, len(self.metadata.classes)) if task == "multiclass" else (0,))
        features = self._input(batch)
        try:
            if task == "regression":
                return np.asarray(self._estimator.predict(features), np.float64).reshape(-1)
            proba = np.asarray(self._estimator.predict_proba(features), np.float64)
        except (ValueError, TypeError) as exc:
            raise ModelError(
                f"The {self.metadata.extra['estimator']} from {self.metadata.extra['source']} "
                f"failed to predict: {exc}"
            ) from exc
        return proba[:, self._positive] if task == "binary" else proba

    def contributions(self, batch: pl.DataFrame) -> Contributions:
        """Exact TreeSHAP for tree models (summed back onto input columns), else permutation."""
        from doorstep.explainers import sklearn_trees

        names = self.metadata.feature_names
        groups = input_groups(self._transformers, len(names)) if self._named else None
        exact = sklearn_trees.supports(self._final) and (
            not self._transformers or groups is not None
        )
        outputs = len(self.metadata.classes) if self.metadata.task == "multiclass" else 1
        if not exact or batch.height == 0:
            if batch.height == 0 and exact:
                empty = np.zeros((0, outputs, len(names)))
                return contributions_for(
                    empty,
                    empty[:, :, 0],
                    link="identity",
                    task=self.metadata.task,
                    positive=self._positive,
                    feature_names=names,
                    method=LINEAR if self._tree_method == "linear" else "treeshap",
                )
            return permutation_explanation(
                self.predict,
                batch,
                self._background,
                task=self.metadata.task,
                columns=feature_columns(
                    batch, names, positional=not self._named, model=self.metadata.extra["source"]
                ),
                outputs=outputs,
                model=self.metadata.extra["source"],
            )
        features = self._input(batch)
        for transformer in self._transformers:
            features = transformer.transform(features)
        if hasattr(features, "toarray"):
            features = features.toarray()
        values, base, link = sklearn_trees.tree_contributions(
            self._final,
            features,
            method=self._tree_method,
            threads=thread_count() if batch.height >= _PARALLEL_ROWS else 1,
        )
        values = np.asarray(values, np.float64)
        if self._transformers and groups is not None:
            values = values @ grouping_matrix(groups, len(names))
        return contributions_for(
            values,
            np.asarray(base, np.float64),
            link=_link(link),
            task=self.metadata.task,
            positive=self._positive,
            feature_names=names,
            method=LINEAR if self._tree_method == "linear" else "treeshap",
        )


def _link(name: str) -> Link:
    if name not in ("logit", "softmax", "identity", "probability"):
        raise ModelError(f"The tree explainer returned an unknown link {name!r}.")
    return name  # type: ignore[return-value]


def _native(estimator: Any, artifact: Artifact) -> Model | None:
    """LightGBM/XGBoost wrappers and boosters go to their own adapters."""
    module = type(estimator).__module__.split(".")[0]
    if module not in ("lightgbm", "xgboost"):
        return None
    classes = [str(c) for c in getattr(estimator, "classes_", [])] or None
    extra = {"container": "joblib", "wrapper": type(estimator).__name__}
    if module == "lightgbm":
        from doorstep.models.lightgbm import LightGBMModel

        booster = getattr(estimator, "booster_", estimator)
        return LightGBMModel.from_booster(
            booster,
            task=artifact.task,
            positive_class=artifact.positive_class,
            classes=classes,
            source=artifact.source,
            digest=artifact.digest,
            extra=extra,
        )
    from doorstep.models.xgboost import XGBoostModel

    booster = estimator.get_booster() if hasattr(estimator, "get_booster") else estimator
    return XGBoostModel.from_booster(
        booster,
        task=artifact.task,
        positive_class=artifact.positive_class,
        classes=classes,
        source=artifact.source,
        digest=artifact.digest,
        extra=extra,
    )
