from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import joblib
import numpy as np
import polars as pl
import pytest

from doorstep.errors import ModelError
from doorstep.models.onnx import ONNXModel

if TYPE_CHECKING:
    from tests.models.conftest import Data


def _filled(data: Data) -> pl.DataFrame:
    return data.batch.with_columns(pl.col("spend").fill_null(0.0))


def test_per_column_inputs_predict_like_the_pipeline(onnx_pipeline: Path, data: Data) -> None:
    model = ONNXModel.load(onnx_pipeline, task="binary")
    assert model.metadata.kind == "onnx"
    assert model.metadata.feature_names == ["tenure", "plan", "spend", "tickets"]
    assert model.metadata.classes == ["0", "1"]
    source = joblib.load(onnx_pipeline.parent / "onnx_source.joblib")
    frame = data.frame.copy()
    frame["plan"] = frame["plan"].astype(object)
    frame["spend"] = frame["spend"].fillna(0.0)
    expected = source.predict_proba(frame)[:, 1]
    # onnxruntime computes in float32
    np.testing.assert_allclose(model.predict(_filled(data)), expected, atol=1e-5)


def test_permutation_explanations(onnx_pipeline: Path, data: Data) -> None:
    batch = _filled(data)
    model = ONNXModel.load(onnx_pipeline, task="binary", reference=batch)
    rows = batch.head(8)
    c = model.contributions(rows)
    assert c.method == "permutation" and c.values.shape == (8, 1, 4)
    np.testing.assert_allclose(
        c.base[:, 0] + c.values.sum(axis=(1, 2)), model.predict(rows), atol=1e-9
    )


def test_matrix_input_is_positional(onnx_matrix: Path, data: Data) -> None:
    model = ONNXModel.load(onnx_matrix, task="regression")
    assert model.metadata.feature_names == ["x0", "x1"]
    scores = model.predict(data.batch.select("tenure", "tickets"))
    assert scores.shape == (data.batch.height,) and np.isfinite(scores).all()


def test_int_input_with_nulls_is_refused_clearly(onnx_pipeline: Path, data: Data) -> None:
    model = ONNXModel.load(onnx_pipeline, task="binary")
    rows = _filled(data).head(3).with_columns(pl.lit(None, pl.Int64).alias("tenure"))
    with pytest.raises(ModelError, match="'tenure' as tensor\\(int64\\).*missing values"):
        model.predict(rows)


def test_not_an_onnx_file(tmp_path: Path) -> None:
    path = tmp_path / "model.onnx"
    path.write_bytes(b"not onnx at all")
    with pytest.raises(ModelError, match="model.onnx is not an ONNX model onnxruntime can open"):
        ONNXModel.load(path, task="binary")
