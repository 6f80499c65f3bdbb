"""XGBoost models: JSON and UBJSON files written by ``Booster.save_model`` (or a wrapper's
``save_model``), and through the sklearn adapter, ``XGBClassifier``/``XGBRegressor`` in joblib.

Categories: since XGBoost 3.1, a model trained on pandas categoricals (``enable_categorical``)
stores each categorical feature's categories in the model file; the code of a category is its
index in that list (the pandas category order at training time), and XGBoost itself re-codes a
pandas frame by name the same way. doorstep reads the stored lists and maps category names to
those codes; names the model never saw, and nulls, reach XGBoost as NaN (missing). Models
without stored categories (older files, training on integer codes) read names as the codes.
"""

from __future__ import annotations

import json
from pathlib import Path
from types import ModuleType
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
import polars as pl

from doorstep.core.ports import Contributions, Link, ModelMetadata, Task
from doorstep.errors import ExplanationError
from doorstep.explainers.treeshap import TreeEnsemble
from doorstep.explainers.xgboost_trees import float32_rows, xgboost_ensemble
from doorstep.models.frames import Codes, feature_columns, is_positional, numeric_matrix
from doorstep.models.loading import (
    Artifact,
    ArtifactModel,
    first_line,
    head,
    import_library,
    thread_count,
)
from doorstep.models.outputs import check_task, contributions_for, positive_index, sigmoid, softmax
from doorstep.models.tree_explainer import LINEAR, TreeExplainer

__all__ = ["XGBoostModel"]

_LOG_LINK = ("count:poisson", "reg:gamma", "reg:tweedie", "survival:cox", "survival:aft")


class XGBoostModel(ArtifactModel):
    """An XGBoost booster; exact explanations from doorstep's ``linear-treeshap`` over its trees,
    or XGBoost's own TreeSHAP (``pred_contribs``, ``xgboost-native``, float32)."""

    metadata: ModelMetadata
    _label = "XGBoost"
    _library = "xgboost"

    def __init__(
        self, booster: Any, metadata: ModelMetadata, *, codes: list[Codes | None], positive: int
    ) -> None:
        self._booster = booster
        self.metadata = metadata
        self._codes = codes
        self._positive = positive
        self._objective = metadata.extra["objective"]
        self._positional = is_positional(metadata.feature_names)
        self._types = metadata.extra["feature_types"].split(",")
        self._margin = np.zeros(1)
        self._explainer = TreeExplainer(
            self._ensemble, native="xgboost-native", threads=thread_count()
        )

    def _ensemble(self) -> TreeEnsemble:
        ensemble, self._margin = xgboost_ensemble(self._booster)
        return ensemble

    def use_explainer(self, method: Literal["auto", "linear", "native"]) -> str:
        """``linear-treeshap`` (``auto``, ``linear``) or ``xgboost-native`` (``native``)."""
        return self._explainer.use(method)

    def explainer_precomputation(self) -> tuple[float, int] | None:
        """Seconds and bytes of the trees' compilation for ``linear-treeshap``."""
        return self._explainer.precomputation()

    @classmethod
    def can_load(cls, path: Path) -> bool:
        """A JSON or UBJSON document whose first key is XGBoost's ``learner``."""
        start = head(path, 256).lstrip()
        return path.is_file() and start.startswith(b"{") and b"learner" in start[:64]

    @classmethod
    def _unrecognised(cls, path: Path) -> str:
        return (
            f"{path} is not an XGBoost model file (it starts with {first_line(path)!r}, "
            "expected a JSON or UBJSON document with a 'learner'). Save the model with "
            "booster.save_model('model.json') or 'model.ubj'."
        )

    @classmethod
    def _open(cls, path: Path, library: ModuleType) -> Any:
        """Read an XGBoost JSON (``.json``) or UBJSON (``.ubj``) model file."""
        booster = library.Booster()
        booster.load_model(str(path))
        return booster

    @classmethod
    def _build(cls, booster: Any, artifact: Artifact) -> XGBoostModel:
        return cls.from_booster(
            booster,
            task=artifact.task,
            positive_class=artifact.positive_class,
            source=artifact.source,
            digest=artifact.digest,
        )

    @classmethod
    def from_booster(
        cls,
        booster: Any,
        *,
        task: Task,
        positive_class: str | None = None,
        classes: list[str] | None = None,
        source: str = "<in-memory XGBoost booster>",
        digest: str = "",
        extra: dict[str, str] | None = None,
    ) -> XGBoostModel:
        """Wrap an ``xgboost.Booster`` already in memory (e.g. ``XGBClassifier.get_booster()``)."""
        xgb = import_library("xgboost")
        config = json.loads(booster.save_config())["learner"]
        objective = str(config["objective"]["name"])
        outputs = max(1, int(config["learner_model_param"].get("num_class", "0")))
        found: Task = (
            "multiclass"
            if objective.startswith("multi:")
            else "binary"
            if objective.startswith("binary:")
            else "regression"
        )
        check_task(source, task, found, f"objective {objective!r}")
        if classes is None and task != "regression":
            classes = [str(i) for i in range(2 if task == "binary" else outputs)]
        classes = classes or []
        positive = positive_index(source, classes, positive_class) if task == "binary" else 1
        width = booster.num_features()
        names = list(booster.feature_names or [f"f{i}" for i in range(width)])
        types = list(booster.feature_types or ["float"] * width)
        codes, categories = _categories(booster, names, types)
        booster.set_param({"nthread": thread_count()})
        metadata = ModelMetadata(
            kind="xgboost",
            task=task,
            feature_names=names,
            content_hash=digest,
            classes=classes,
            categories=categories,
            library_version=str(xgb.__version__),
            extra={
                "objective": objective,
                "feature_types": ",".join(types),
                "source": source,
                **(extra or {}),
            },
        )
        return cls(booster, metadata, codes=codes, positive=positive)

    def _matrix(self, batch: pl.DataFrame) -> npt.NDArray[np.float64]:
        columns = feature_columns(
            batch,
            self.metadata.feature_names,
            positional=self._positional,
            model=self.metadata.extra["source"],
        )
        return numeric_matrix(batch, columns, self._codes)

    def predict(self, batch: pl.DataFrame) -> npt.NDArray[np.float64]:
        """Probability of the positive class, class probabilities, or the prediction.

        Probabilities are computed in float64 from XGBoost's float32 margins, so that they agree
        with the contributions to the last digit XGBoost gives."""
        matrix = self._matrix(batch)
        task = self.metadata.task
        outputs = len(self.metadata.classes) if task == "multiclass" else 1
        if matrix.shape[0] == 0:
            return np.zeros((0, outputs) if task == "multiclass" else (0,))
        if task == "regression" and self._objective in _LOG_LINK:
            return np.asarray(self._booster.inplace_predict(matrix), np.float64)
        margin = np.asarray(self._booster.inplace_predict(matrix, predict_type="margin"))
        margin = margin.astype(np.float64)
        if task == "binary":
            p = sigmoid(margin.reshape(-1))
            return 1.0 - p if self._positive == 0 else p
        if task == "multiclass":
            return softmax(margin.reshape(-1, outputs))
        return margin.reshape(-1)

    def contributions(self, batch: pl.DataFrame) -> Contributions:
        """Exact TreeSHAP, in log-odds (binary), margins (multiclass) or units.

        ``linear-treeshap`` works in float64 on the rows rounded to float32 (as XGBoost routes
        them); ``xgboost-native`` values are XGBoost's float32 ones."""
        if self._objective in _LOG_LINK:
            raise ExplanationError(
                f"XGBoost's contributions for the {self._objective!r} objective add up in log "
                "space, not in the target's units, which doorstep does not support yet."
            )
        xgb = import_library("xgboost")
        matrix = self._matrix(batch)
        rows, width = matrix.shape
        outputs = len(self.metadata.classes) if self.metadata.task == "multiclass" else 1
        method = self._explainer.method()
        if rows == 0:
            raw = np.zeros((0, outputs, width + 1))
        elif method == LINEAR:
            values, base = self._explainer.explain(float32_rows(matrix))
            raw = np.concatenate([values, (base + self._margin)[:, :, None]], axis=2)
        else:
            dmatrix = xgb.DMatrix(
                matrix,
                feature_names=None if self._positional else self.metadata.feature_names,
                feature_types=self._types,
                enable_categorical=True,
                nthread=thread_count(),
            )
            raw = np.asarray(self._booster.predict(dmatrix, pred_contribs=True), np.float64)
            raw = raw.reshape(rows, outputs, width + 1)
        link: Link = (
            "logit"
            if self.metadata.task == "binary"
            else "softmax"
            if self.metadata.task == "multiclass"
            else "identity"
        )
        return contributions_for(
            raw[:, :, :width],
            raw[:, :, width],
            link=link,
            task=self.metadata.task,
            positive=self._positive,
            feature_names=self.metadata.feature_names,
            method=method,
        )


def _categories(
    booster: Any, names: list[str], types: list[str]
) -> tuple[list[Codes | None], dict[str, list[str]]]:
    """Per feature, the table from category name to XGBoost code, and the names in code order."""
    stored: dict[str, list[str]] = {}
    try:
        for name, array in booster.get_categories(export_to_arrow=True).to_arrow():
            if array is not None:
                stored[str(name)] = [str(v) for v in array.to_pylist()]
    except Exception:
        stored = {}  # XGBoost < 3.1, or a model trained on integer codes
    codes: list[Codes | None] = [None] * len(names)
    categories: dict[str, list[str]] = {}
    for index, (name, kind) in enumerate(zip(names, types, strict=True)):
        if kind == "c" and name in stored:
            categories[name] = stored[name]
            codes[index] = {label: float(code) for code, label in enumerate(stored[name])}
    return codes, categories
