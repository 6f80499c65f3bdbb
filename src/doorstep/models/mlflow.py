"""MLflow models: a local folder holding an ``MLmodel`` file (as ``mlflow.<flavor>.save_model``
writes it, or a downloaded run artifact). Needs the ``doorstep[mlflow]`` extra.

A folder whose flavor is ``lightgbm`` or ``xgboost`` is loaded with that flavor and handed to
:class:`LightGBMModel` / :class:`XGBoostModel`, so it gets exact explanations; any other flavor is
run through ``mlflow.pyfunc`` and explained by permutation. A pyfunc model must have been logged
with a signature (``mlflow.models.infer_signature``) so that doorstep knows its input columns.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import numpy.typing as npt
import polars as pl

from doorstep.core.ports import Contributions, Model, ModelMetadata, Task
from doorstep.errors import ModelError
from doorstep.models.fallback import background_sample, permutation_explanation
from doorstep.models.frames import feature_columns, pandas_frame
from doorstep.models.loading import Artifact, ArtifactModel, import_library
from doorstep.models.outputs import check_task, positive_index

__all__ = ["MLflowModel"]


class MLflowModel(ArtifactModel):
    """An MLflow pyfunc model; explanations by permutation."""

    metadata: ModelMetadata
    _label = "MLflow"
    _library = "mlflow"
    _folder = True

    def __init__(
        self,
        pyfunc: Any,
        metadata: ModelMetadata,
        *,
        positive: int,
        background: pl.DataFrame | None,
    ) -> None:
        self._pyfunc = pyfunc
        self.metadata = metadata
        self._positive = positive
        self._background = background
        self._source = metadata.extra["source"]

    @classmethod
    def can_load(cls, path: Path) -> bool:
        """A folder with an ``MLmodel`` file."""
        return path.is_dir() and (path / "MLmodel").is_file()

    @classmethod
    def _unrecognised(cls, path: Path) -> str:
        return (
            f"{path} is not an MLflow model folder: it has no 'MLmodel' file. Point "
            "'model.path' at the folder mlflow.<flavor>.save_model wrote (or a downloaded "
            "run artifact folder such as 'model/')."
        )

    @classmethod
    def _open(cls, path: Path, library: ModuleType) -> Any:
        """The flavors the folder's ``MLmodel`` file lists (the model itself loads later)."""
        import_library("mlflow.pyfunc")
        return dict(library.models.Model.load(str(path / "MLmodel")).flavors)

    @classmethod
    def _open_error(cls, path: Path, exc: Exception) -> str:
        return f"{path / 'MLmodel'} could not be read: {exc}"

    @classmethod
    def _build(cls, flavors: dict[str, Any], artifact: Artifact) -> Model:
        """The native adapter for LightGBM/XGBoost flavors, else the pyfunc model."""
        path = artifact.path
        extra = {"container": "mlflow", "source": str(path)}
        native = _native(flavors, artifact)
        if native is not None:
            native.metadata = replace(
                native.metadata,
                kind="mlflow",
                extra={**native.metadata.extra, **extra, "flavor": _flavor(flavors)},
            )
            return native
        mlflow = import_library(cls._library)
        try:
            pyfunc = mlflow.pyfunc.load_model(str(path))
        except Exception as exc:
            raise ModelError(f"MLflow could not load the model folder {path}: {exc}") from exc
        return cls._from_pyfunc(pyfunc, flavors, artifact)

    @classmethod
    def _from_pyfunc(cls, pyfunc: Any, flavors: dict[str, Any], artifact: Artifact) -> MLflowModel:
        path, task = artifact.path, artifact.task
        inputs = pyfunc.metadata.get_input_schema()
        if inputs is None or not inputs.has_input_names():
            raise ModelError(
                f"The MLflow model {path} has no input signature, so doorstep cannot tell which "
                "columns it takes. Log it with signature=mlflow.models.infer_signature(X, y)."
            )
        names = [str(n) for n in inputs.input_names()]
        outputs = pyfunc.metadata.get_output_schema()
        out_names = [str(n) for n in outputs.input_names()] if outputs is not None else []
        classes: list[str] = []
        if task != "regression":
            classes = out_names if len(out_names) > 1 else (["0", "1"] if task == "binary" else [])
            if not classes:
                raise ModelError(
                    f"The MLflow model {path} does not name its classes; log it with an output "
                    "signature of one probability column per class."
                )
        found: Task = (
            "regression" if not classes else "binary" if len(classes) == 2 else "multiclass"
        )
        check_task(str(path), task, found, "from its signature")
        positive = (
            positive_index(str(path), classes, artifact.positive_class) if task == "binary" else 1
        )
        mlflow = import_library("mlflow")
        metadata = ModelMetadata(
            kind="mlflow",
            task=task,
            feature_names=names,
            content_hash=artifact.digest,
            classes=classes,
            library_version=str(mlflow.__version__),
            extra={"source": str(path), "container": "mlflow", "flavor": _flavor(flavors)},
        )
        background = background_sample(artifact.reference)
        return cls(pyfunc, metadata, positive=positive, background=background)

    def predict(self, batch: pl.DataFrame) -> npt.NDArray[np.float64]:
        """The pyfunc's output as scores: the positive class's column for binary models."""
        task = self.metadata.task
        if batch.height == 0:
            return np.zeros((0, len(self.metadata.classes)) if task == "multiclass" else (0,))
        columns = feature_columns(
            batch, self.metadata.feature_names, positional=False, model=self._source
        )
        try:
            raw = self._pyfunc.predict(pandas_frame(batch, columns, ints_as_float=False))
        except Exception as exc:
            raise ModelError(f"The MLflow model {self._source} failed to predict: {exc}") from exc
        out = np.asarray(raw, dtype=np.float64)
        if task == "regression" or (task == "binary" and out.ndim == 1):
            out = out.reshape(-1)
            return 1.0 - out if task == "binary" and self._positive == 0 else out
        return out[:, self._positive] if task == "binary" else out

    def contributions(self, batch: pl.DataFrame) -> Contributions:
        """Permutation contributions in the pyfunc's output space."""
        outputs = len(self.metadata.classes) if self.metadata.task == "multiclass" else 1
        return permutation_explanation(
            self.predict,
            batch,
            self._background,
            task=self.metadata.task,
            columns=list(self.metadata.feature_names),
            outputs=outputs,
            model=self._source,
        )


def _flavor(flavors: dict[str, Any]) -> str:
    named = [f for f in flavors if f != "python_function"]
    return named[0] if named else "python_function"


def _native(flavors: dict[str, Any], artifact: Artifact) -> Model | None:
    path = artifact.path
    flavor = _flavor(flavors)
    if flavor not in ("lightgbm", "xgboost"):
        return None
    module = import_library(f"mlflow.{flavor}")
    try:
        loaded = module.load_model(str(path))
    except Exception as exc:
        raise ModelError(f"MLflow could not load the {flavor} model in {path}: {exc}") from exc
    classes = [str(c) for c in getattr(loaded, "classes_", [])] or None
    if flavor == "lightgbm":
        from doorstep.models.lightgbm import LightGBMModel

        return LightGBMModel.from_booster(
            getattr(loaded, "booster_", loaded),
            task=artifact.task,
            positive_class=artifact.positive_class,
            classes=classes,
            source=artifact.source,
            digest=artifact.digest,
        )
    from doorstep.models.xgboost import XGBoostModel

    booster = loaded.get_booster() if hasattr(loaded, "get_booster") else loaded
    return XGBoostModel.from_booster(
        booster,
        task=artifact.task,
        positive_class=artifact.positive_class,
        classes=classes,
        source=artifact.source,
        digest=artifact.digest,
    )
