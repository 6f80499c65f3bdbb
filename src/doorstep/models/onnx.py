"""ONNX models run by onnxruntime: either one float tensor holding every feature (in the order
of the model's ``feature_names`` metadata, else the spec's field order) or one input per column,
named after the spec's fields, as skl2onnx writes a ``ColumnTransformer`` pipeline converted with
one ``initial_types`` entry per column.

Classifiers are read from a probability tensor (skl2onnx's ``zipmap=False``, recommended) or from
a ZipMap (a list of ``{class: probability}`` maps, slower). Explanations use the model-agnostic
permutation fallback against the spec's reference data.
"""

from __future__ import annotations

from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import numpy.typing as npt
import polars as pl

from doorstep.core.ports import Contributions, ModelMetadata, Task
from doorstep.errors import ModelError
from doorstep.models.fallback import background_sample, permutation_explanation
from doorstep.models.frames import feature_columns, is_positional, numeric_matrix
from doorstep.models.loading import Artifact, ArtifactModel, head, import_library, thread_count
from doorstep.models.outputs import check_task, positive_index

__all__ = ["ONNXModel"]

_TENSOR_TYPES: dict[str, Any] = {
    "tensor(float)": np.float32,
    "tensor(double)": np.float64,
    "tensor(int64)": np.int64,
    "tensor(int32)": np.int32,
    "tensor(bool)": np.bool_,
}


class ONNXModel(ArtifactModel):
    """An ONNX graph run by onnxruntime; explanations by permutation."""

    metadata: ModelMetadata
    _label = "ONNX"
    _library = "onnxruntime"

    def __init__(
        self,
        session: Any,
        metadata: ModelMetadata,
        *,
        matrix_input: bool,
        positive: int,
        background: pl.DataFrame | None,
    ) -> None:
        self._session = session
        self.metadata = metadata
        self._matrix_input = matrix_input
        self._positive = positive
        self._background = background
        self._inputs = {i.name: i.type for i in session.get_inputs()}
        outputs = session.get_outputs()
        self._score_output = _score_output(outputs, metadata.task)
        self._zipmap = self._score_output.type.startswith("seq(map")
        self._source = metadata.extra["source"]

    @classmethod
    def can_load(cls, path: Path) -> bool:
        """A ``*.onnx`` file, or a protobuf starting with an ONNX ``ir_version`` field."""
        start = head(path, 3)
        return path.is_file() and (
            path.suffix.lower() == ".onnx"
            or (len(start) == 3 and start[0] == 0x08 and start[2] in (0x12, 0x1A, 0x3A))
        )

    @classmethod
    def _open(cls, path: Path, library: ModuleType) -> Any:
        """Open an ONNX file in an onnxruntime session on the CPU."""
        options = library.SessionOptions()
        options.intra_op_num_threads = thread_count()
        options.inter_op_num_threads = 1
        return library.InferenceSession(
            str(path), sess_options=options, providers=["CPUExecutionProvider"]
        )

    @classmethod
    def _open_error(cls, path: Path, exc: Exception) -> str:
        return (
            f"{path} is not an ONNX model onnxruntime can open ({exc}). Export it with "
            "skl2onnx/onnxmltools (or torch.onnx) and check it with onnx.checker."
        )

    @classmethod
    def _build(cls, session: Any, artifact: Artifact) -> ONNXModel:
        """Read the task, classes and feature names from the session's inputs and outputs."""
        path, task = artifact.path, artifact.task
        inputs = session.get_inputs()
        outputs = session.get_outputs()
        found: Task = "regression" if len(outputs) < 2 else "binary"
        classes = _classes(path, outputs) if found != "regression" else []
        if found == "binary" and len(classes) > 2:
            found = "multiclass"
        if task == "multiclass" and found == "binary" and not classes:
            found = "multiclass"
        check_task(str(path), task, found, f"outputs {[o.name for o in outputs]}")
        if task == "binary" and not classes:
            classes = ["0", "1"]
        positive = (
            positive_index(str(path), classes, artifact.positive_class) if task == "binary" else 1
        )
        matrix_input = len(inputs) == 1 and inputs[0].shape[-1] != 1
        if matrix_input:
            names = _matrix_names(path, session, inputs[0])
        else:
            names = [i.name for i in inputs]
        metadata = ModelMetadata(
            kind="onnx",
            task=task,
            feature_names=names,
            content_hash=artifact.digest,
            classes=classes,
            library_version=str(import_library(cls._library).__version__),
            extra={"source": str(path), "producer": session.get_modelmeta().producer_name},
        )
        return cls(
            session,
            metadata,
            matrix_input=matrix_input,
            positive=positive,
            background=background_sample(artifact.reference),
        )

    def _columns(self, batch: pl.DataFrame) -> list[str]:
        positional = self._matrix_input and is_positional(self.metadata.feature_names)
        return feature_columns(
            batch, self.metadata.feature_names, positional=positional, model=self._source
        )

    def _feeds(self, batch: pl.DataFrame) -> dict[str, Any]:
        columns = self._columns(batch)
        if self._matrix_input:
            name, kind = next(iter(self._inputs.items()))
            dtype = _TENSOR_TYPES.get(kind, np.float32)
            return {name: numeric_matrix(batch, columns).astype(dtype, copy=False)}
        feeds: dict[str, Any] = {}
        for name, column in zip(self.metadata.feature_names, columns, strict=True):
            series = batch.get_column(column)
            kind = self._inputs[name]
            if kind == "tensor(string)":
                values = series.cast(pl.String).fill_null("").to_numpy().astype(object)
            elif kind in ("tensor(int64)", "tensor(int32)", "tensor(bool)") and series.has_nulls():
                raise ModelError(
                    f"The ONNX model {self._source} takes {name!r} as {kind}, which cannot hold "
                    "missing values; make the field required in the spec or export the model "
                    "with a float input for it."
                )
            else:
                values = series.cast(pl.Float64).to_numpy().astype(_TENSOR_TYPES.get(kind, "f4"))
            feeds[name] = values.reshape(-1, 1)
        return feeds

    def predict(self, batch: pl.DataFrame) -> npt.NDArray[np.float64]:
        """Probability of the positive class, class probabilities, or the prediction."""
        task = self.metadata.task
        if batch.height == 0:
            return np.zeros((0, len(self.metadata.classes)) if task == "multiclass" else (0,))
        try:
            (raw,) = self._session.run([self._score_output.name], self._feeds(batch))
        except ModelError:
            raise
        except Exception as exc:
            raise ModelError(f"The ONNX model {self._source} failed to predict: {exc}") from exc
        if task == "regression":
            return np.asarray(raw, np.float64).reshape(-1)
        if self._zipmap:
            keys = sorted(raw[0], key=lambda k: self.metadata.classes.index(str(k)))
            proba = np.array([[row[k] for k in keys] for row in raw], dtype=np.float64)
        else:
            proba = np.asarray(raw, np.float64)
        return proba[:, self._positive] if task == "binary" else proba

    def contributions(self, batch: pl.DataFrame) -> Contributions:
        """Permutation contributions in probability (classifiers) or target units."""
        outputs = len(self.metadata.classes) if self.metadata.task == "multiclass" else 1
        return permutation_explanation(
            self.predict,
            batch,
            self._background,
            task=self.metadata.task,
            columns=self._columns(batch),
            outputs=outputs,
            model=self._source,
        )


def _score_output(outputs: list[Any], task: Task) -> Any:
    if task == "regression" or len(outputs) == 1:
        return outputs[0]
    named = [o for o in outputs if "prob" in o.name.lower()]
    return named[0] if named else outputs[-1]


def _classes(path: Path, outputs: list[Any]) -> list[str]:
    """Class labels from the graph's classifier node (needs the ``onnx`` package), else
    ``0..k-1`` from the probability tensor's width."""
    try:
        import onnx

        graph = onnx.load(str(path), load_external_data=False).graph
        for node in graph.node:
            for attribute in node.attribute:
                if attribute.name == "classlabels_strings" and attribute.strings:
                    return [s.decode("utf-8") for s in attribute.strings]
                if attribute.name in ("classlabels_int64s", "classlabels_ints") and attribute.ints:
                    return [str(i) for i in attribute.ints]
    except Exception:  # onnx not installed, or an unusual graph: fall back on the shapes
        pass
    for output in outputs:
        shape = getattr(output, "shape", None) or []
        if "prob" in output.name.lower() and len(shape) == 2 and isinstance(shape[1], int):
            return [str(i) for i in range(shape[1])]
    return []


def _matrix_names(path: Path, session: Any, tensor: Any) -> list[str]:
    custom = session.get_modelmeta().custom_metadata_map.get("feature_names", "")
    if custom:
        return [n.strip() for n in custom.split(",") if n.strip()]
    width = tensor.shape[-1] if tensor.shape else None
    if not isinstance(width, int):
        raise ModelError(
            f"The ONNX model {path} takes one tensor {tensor.name!r} of unknown width "
            f"{tensor.shape}; export it with a fixed number of features, e.g. "
            "FloatTensorType([None, 4]), or add 'feature_names' to its metadata_props."
        )
    return [f"x{i}" for i in range(width)]
