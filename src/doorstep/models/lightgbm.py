"""LightGBM models: native text model files (``Booster.save_model``), and through the sklearn
adapter, ``LGBMClassifier``/``LGBMRegressor`` wrappers saved with joblib.

Categories: a model trained on pandas categoricals stores each categorical feature's category
list (``pandas_categorical``); the code of a category is its index in that list. A model trained
on integer codes stores the codes it saw, and the spec's category names are read as those codes.
Categories the model never saw, and nulls, reach LightGBM as NaN (missing).
"""

from __future__ import annotations

from pathlib import Path
from types import ModuleType
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
import polars as pl

from doorstep.core.ports import Contributions, Link, ModelMetadata, Task
from doorstep.errors import ExplanationError
from doorstep.explainers.lightgbm_trees import lightgbm_ensemble
from doorstep.models.frames import Codes, feature_columns, is_positional, numeric_matrix
from doorstep.models.loading import (
    Artifact,
    ArtifactModel,
    first_line,
    head,
    import_library,
    thread_count,
)
from doorstep.models.outputs import check_task, contributions_for, positive_index
from doorstep.models.tree_explainer import LINEAR, TreeExplainer

__all__ = ["LightGBMModel"]

_LOG_LINK = ("poisson", "gamma", "tweedie")
_PARALLEL_PREDICT_ROWS = 2_048
"""Below this many rows, threads cost more than they save (online requests, micro-batches)."""
_PARALLEL_CONTRIB_ROWS = 16


class LightGBMModel(ArtifactModel):
    """A LightGBM booster; exact explanations from doorstep's ``linear-treeshap`` over its trees,
    or LightGBM's own TreeSHAP (``pred_contrib``, ``lightgbm-native``)."""

    metadata: ModelMetadata
    _label = "LightGBM"
    _library = "lightgbm"

    def __init__(
        self,
        booster: Any,
        metadata: ModelMetadata,
        *,
        codes: list[Codes | None],
        positive: int,
        objective: str,
    ) -> None:
        self._booster = booster
        self.metadata = metadata
        self._codes = codes
        self._positive = positive
        self._objective = objective
        self._positional = is_positional(metadata.feature_names)
        self._threads = thread_count()
        self._explainer = TreeExplainer(
            lambda: lightgbm_ensemble(booster), native="lightgbm-native", threads=self._threads
        )

    def use_explainer(self, method: Literal["auto", "linear", "native"]) -> str:
        """``linear-treeshap`` (``auto``, ``linear``) or ``lightgbm-native`` (``native``)."""
        return self._explainer.use(method)

    def explainer_precomputation(self) -> tuple[float, int] | None:
        """Seconds and bytes of the trees' compilation for ``linear-treeshap``."""
        return self._explainer.precomputation()

    @classmethod
    def can_load(cls, path: Path) -> bool:
        """A LightGBM text model starts with the line ``tree``."""
        return path.is_file() and head(path, 5).rstrip() == b"tree"

    @classmethod
    def _unrecognised(cls, path: Path) -> str:
        return (
            f"{path} is not a LightGBM model file (first line was {first_line(path)!r}, "
            "expected 'tree'). Save the model with booster.save_model('model.txt'), or set "
            "'model.kind' to the library that wrote it."
        )

    @classmethod
    def _open(cls, path: Path, library: ModuleType) -> Any:
        """Read a LightGBM text model file."""
        return library.Booster(model_file=str(path))

    @classmethod
    def _build(cls, booster: Any, artifact: Artifact) -> LightGBMModel:
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
        source: str = "<in-memory LightGBM booster>",
        digest: str = "",
        extra: dict[str, str] | None = None,
    ) -> LightGBMModel:
        """Wrap a ``lightgbm.Booster`` already in memory (e.g. the ``booster_`` of a wrapper)."""
        header = _header(booster.model_to_string(num_iteration=1))
        objective = header.get("objective", "regression").split(" ")[0]
        found: Task = (
            "multiclass"
            if objective.startswith("multiclass")
            else "binary"
            if objective == "binary"
            else "regression"
        )
        check_task(source, task, found, f"objective {objective!r}")
        outputs = booster.num_model_per_iteration()
        if classes is None and task != "regression":
            classes = [str(i) for i in range(2 if task == "binary" else outputs)]
        classes = classes or []
        positive = positive_index(source, classes, positive_class) if task == "binary" else 1
        names = list(booster.feature_name())
        codes, categories = _categories(booster, header, names)
        metadata = ModelMetadata(
            kind="lightgbm",
            task=task,
            feature_names=names,
            content_hash=digest,
            classes=classes,
            categories=categories,
            library_version=str(import_library("lightgbm").__version__),
            extra={"objective": objective, "source": source, **(extra or {})},
        )
        return cls(booster, metadata, codes=codes, positive=positive, objective=objective)

    def _matrix(self, batch: pl.DataFrame) -> npt.NDArray[np.float64]:
        columns = feature_columns(
            batch,
            self.metadata.feature_names,
            positional=self._positional,
            model=self.metadata.extra["source"],
        )
        return numeric_matrix(batch, columns, self._codes)

    def predict(self, batch: pl.DataFrame) -> npt.NDArray[np.float64]:
        """Probability of the positive class, class probabilities, or the prediction."""
        matrix = self._matrix(batch)
        if matrix.shape[0] == 0:
            width = len(self.metadata.classes) if self.metadata.task == "multiclass" else 0
            return np.zeros((0, width) if width else (0,))
        threads = self._threads if matrix.shape[0] >= _PARALLEL_PREDICT_ROWS else 1
        out = np.asarray(self._booster.predict(matrix, num_threads=threads), np.float64)
        if self.metadata.task == "binary" and self._positive == 0:
            out = 1.0 - out
        return out

    def contributions(self, batch: pl.DataFrame) -> Contributions:
        """Exact TreeSHAP, in log-odds (binary), margins (multiclass) or units."""
        if self._objective in _LOG_LINK:
            raise ExplanationError(
                f"LightGBM's contributions for the {self._objective!r} objective add up in log "
                "space, not in the target's units, which doorstep does not support yet."
            )
        matrix = self._matrix(batch)
        rows, width = matrix.shape
        outputs = len(self.metadata.classes) if self.metadata.task == "multiclass" else 1
        method = self._explainer.method()
        if rows and method == LINEAR:
            values, base = self._explainer.explain(matrix)
        else:
            raw = (
                np.zeros((0, outputs, width + 1))
                if rows == 0
                else np.asarray(
                    self._booster.predict(
                        matrix,
                        pred_contrib=True,
                        num_threads=self._threads if rows >= _PARALLEL_CONTRIB_ROWS else 1,
                    ),
                    np.float64,
                ).reshape(rows, outputs, width + 1)
            )
            values, base = raw[:, :, :width], raw[:, :, width]
        link: Link = {"binary": "logit", "multiclass": "softmax"}.get(  # type: ignore[assignment]
            self.metadata.task, "identity"
        )
        return contributions_for(
            values,
            base,
            link=link,
            task=self.metadata.task,
            positive=self._positive,
            feature_names=self.metadata.feature_names,
            method=method,
        )


def _header(text: str) -> dict[str, str]:
    """``key=value`` lines before the first tree, plus ``[key: value]`` parameter lines."""
    header: dict[str, str] = {}
    for line in text.splitlines():
        if line.startswith("[") and ": " in line and line.endswith("]"):
            key, _, value = line[1:-1].partition(": ")
            header.setdefault(key, value)
        elif "=" in line and not line.startswith("Tree="):
            key, _, value = line.partition("=")
            header.setdefault(key, value)
    return header


def _categories(
    booster: Any, header: dict[str, str], names: list[str]
) -> tuple[list[Codes | None], dict[str, list[str]]]:
    """Per feature, the table from category name to LightGBM code, and the names in code order."""
    infos = header.get("feature_infos", "").split(" ")
    indices = sorted(
        int(i) for i in header.get("categorical_feature", "").split(",") if i.strip()
    ) or [i for i, info in enumerate(infos) if info and info != "none" and info[0] != "["]
    pandas_categorical = getattr(booster, "pandas_categorical", None) or []
    codes: list[Codes | None] = [None] * len(names)
    categories: dict[str, list[str]] = {}
    for position, index in enumerate(indices):
        if position < len(pandas_categorical):
            labels = [str(c) for c in pandas_categorical[position]]
            codes[index] = {label: float(code) for code, label in enumerate(labels)}
        else:
            info = infos[index] if index < len(infos) else ""
            seen = sorted({int(v) for v in info.split(":") if v.lstrip("-").isdigit()} - {-1})
            labels = [str(v) for v in seen]
            codes[index] = {label: float(label) for label in labels}
        categories[names[index]] = labels
    return codes, categories
