from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import lightgbm as lgb
import numpy as np
import pytest

from doorstep.errors import ModelError
from doorstep.models.lightgbm import LightGBMModel
from doorstep.models.mlflow import MLflowModel

if TYPE_CHECKING:
    from tests.models.conftest import Data


def test_lightgbm_flavor_gets_native_explanations(mlflow_lightgbm: Path, data: Data) -> None:
    model = MLflowModel.load(mlflow_lightgbm, task="binary")
    assert isinstance(model, LightGBMModel)
    assert model.metadata.kind == "mlflow"
    assert model.metadata.extra["flavor"] == "lightgbm"
    assert model.contributions(data.batch.head(5)).method == "linear-treeshap"
    scores = model.predict(data.batch)
    assert scores.shape == (data.batch.height,)


def test_folder_hash_covers_every_file(mlflow_lightgbm: Path, tmp_path: Path) -> None:
    import shutil

    first = MLflowModel.load(mlflow_lightgbm, task="binary").metadata.content_hash
    copy = tmp_path / "copy"
    shutil.copytree(mlflow_lightgbm, copy)
    assert MLflowModel.load(copy, task="binary").metadata.content_hash == first
    (copy / "requirements.txt").write_text("lightgbm\nnumpy\n")
    assert MLflowModel.load(copy, task="binary").metadata.content_hash != first


def test_pyfunc_with_permutation_fallback(mlflow_sklearn: Path, data: Data) -> None:
    batch = data.batch.select("tenure", "tickets")
    model = MLflowModel.load(
        mlflow_sklearn, task="binary", positive_class="churned", reference=batch
    )
    assert isinstance(model, MLflowModel)
    assert model.metadata.classes == ["stayed", "churned"]
    scores = model.predict(batch)
    assert scores.shape == (batch.height,) and ((scores >= 0) & (scores <= 1)).all()
    c = model.contributions(batch.head(5))
    assert c.method == "permutation"
    np.testing.assert_allclose(c.base[:, 0] + c.values.sum(axis=(1, 2)), scores[:5], atol=1e-9)


def test_folder_without_mlmodel(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="has no 'MLmodel' file"):
        MLflowModel.load(tmp_path, task="binary")


def test_file_is_not_a_folder(tmp_path: Path) -> None:
    path = tmp_path / "model.txt"
    path.write_text("tree\n")
    with pytest.raises(ModelError, match="is not a folder"):
        MLflowModel.load(path, task="binary")


def test_native_booster_matches_lightgbm(mlflow_lightgbm: Path, data: Data) -> None:
    import mlflow.lightgbm

    booster = mlflow.lightgbm.load_model(str(mlflow_lightgbm))
    assert isinstance(booster, lgb.Booster)
    expected = booster.predict(data.frame)
    model = MLflowModel.load(mlflow_lightgbm, task="binary")
    np.testing.assert_allclose(model.predict(data.batch), expected, atol=1e-12)
