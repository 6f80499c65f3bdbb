from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import lightgbm as lgb
import numpy as np
import numpy.typing as npt
import pandas as pd
import polars as pl
import pytest

from doorstep.errors import ModelError
from doorstep.models.lightgbm import LightGBMModel
from doorstep.models.sklearn import SklearnModel

if TYPE_CHECKING:
    from tests.models.conftest import Data


def _logit(p: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    return np.log(p / (1 - p))


def test_binary_predicts_like_lightgbm(lgb_binary: Path, data: Data) -> None:
    model = LightGBMModel.load(lgb_binary, task="binary")
    expected = lgb.Booster(model_file=lgb_binary).predict(data.frame)
    np.testing.assert_allclose(model.predict(data.batch), expected, rtol=0, atol=1e-12)


def test_binary_metadata(lgb_binary: Path, data: Data) -> None:
    meta = LightGBMModel.load(lgb_binary, task="binary").metadata
    assert meta.kind == "lightgbm"
    assert meta.feature_names == ["tenure", "plan", "spend", "tickets"]
    assert meta.classes == ["0", "1"]
    assert meta.categories == {"plan": list(data.plans)}
    assert meta.content_hash.startswith("sha256:") and len(meta.content_hash) == 71
    assert meta.library_version == lgb.__version__


def test_binary_contributions_are_exact(lgb_binary: Path, data: Data) -> None:
    model = LightGBMModel.load(lgb_binary, task="binary")
    c = model.contributions(data.batch)
    assert c.values.shape == (data.batch.height, 1, 4)
    assert c.link == "logit" and c.method == "linear-treeshap"
    margin = c.base[:, 0] + c.values.sum(axis=(1, 2))
    np.testing.assert_allclose(margin, _logit(model.predict(data.batch)), atol=1e-9)


def test_negative_class_as_positive_flips_scores_and_contributions(
    lgb_binary: Path, data: Data
) -> None:
    usual = LightGBMModel.load(lgb_binary, task="binary")
    flipped = LightGBMModel.load(lgb_binary, task="binary", positive_class="0")
    np.testing.assert_allclose(flipped.predict(data.batch), 1 - usual.predict(data.batch))
    np.testing.assert_allclose(
        flipped.contributions(data.batch).values, -usual.contributions(data.batch).values
    )


def test_unknown_positive_class_lists_the_classes(lgb_binary: Path) -> None:
    with pytest.raises(
        ModelError, match=r"positive_class: yes' is not a class .* classes are '0', '1'"
    ):
        LightGBMModel.load(lgb_binary, task="binary", positive_class="yes")


def test_multiclass_predicts_and_explains(lgb_multiclass: Path, data: Data) -> None:
    model = LightGBMModel.load(lgb_multiclass, task="multiclass")
    expected = lgb.Booster(model_file=lgb_multiclass).predict(data.frame)
    scores = model.predict(data.batch)
    np.testing.assert_allclose(scores, expected, atol=1e-12)
    c = model.contributions(data.batch)
    assert c.values.shape == (data.batch.height, 3, 4) and c.link == "softmax"
    margins = c.base + c.values.sum(axis=2)
    softmax = np.exp(margins) / np.exp(margins).sum(axis=1, keepdims=True)
    np.testing.assert_allclose(softmax, scores, atol=1e-9)


def test_unseen_category_and_null_are_missing(lgb_binary: Path, data: Data) -> None:
    model = LightGBMModel.load(lgb_binary, task="binary")
    rows = data.batch.head(20)
    unseen = model.predict(rows.with_columns(pl.lit("enterprise").alias("plan")))
    null = model.predict(rows.with_columns(pl.lit(None, pl.String).alias("plan")))
    frame = data.frame.head(20).copy()
    frame["plan"] = pd.Categorical([None] * 20, categories=list(data.plans))
    expected = lgb.Booster(model_file=lgb_binary).predict(frame)
    np.testing.assert_allclose(unseen, null, atol=0)
    np.testing.assert_allclose(null, expected, atol=1e-12)


def test_positional_model_takes_the_batch_order(lgb_positional: Path, data: Data) -> None:
    model = LightGBMModel.load(lgb_positional, task="regression")
    assert model.metadata.feature_names == ["Column_0", "Column_1", "Column_2"]
    batch = data.batch.select("tenure", "tickets", "spend")
    matrix = data.frame[["tenure", "tickets", "spend"]].to_numpy(dtype=float)
    expected = lgb.Booster(model_file=lgb_positional).predict(matrix)
    np.testing.assert_allclose(model.predict(batch), expected, atol=1e-12)
    c = model.contributions(batch)
    assert c.link == "identity"
    np.testing.assert_allclose(c.base[:, 0] + c.values.sum(axis=(1, 2)), expected, atol=1e-9)
    with pytest.raises(ModelError, match="takes 3 features by position but the batch has 2"):
        model.predict(batch.drop("spend"))


def test_wrapper_in_joblib_goes_to_lightgbm_adapter(lgb_wrapper_joblib: Path, data: Data) -> None:
    import joblib

    model = SklearnModel.load(lgb_wrapper_joblib, task="binary", positive_class="stayed")
    assert isinstance(model, LightGBMModel)
    assert model.metadata.classes == ["churned", "stayed"]
    assert model.metadata.extra["wrapper"] == "LGBMClassifier"
    expected = joblib.load(lgb_wrapper_joblib).predict_proba(data.frame)[:, 1]
    np.testing.assert_allclose(model.predict(data.batch), expected, atol=1e-12)


def test_missing_feature_is_named(lgb_binary: Path, data: Data) -> None:
    model = LightGBMModel.load(lgb_binary, task="binary")
    with pytest.raises(ModelError, match="needs the input.*'tickets'"):
        model.predict(data.batch.drop("tickets"))


def test_not_a_lightgbm_file(tmp_path: Path) -> None:
    path = tmp_path / "model.txt"
    path.write_text("hello world\n")
    with pytest.raises(ModelError, match=r"not a LightGBM model file \(first line was 'hello"):
        LightGBMModel.load(path, task="binary")


def test_wrong_task_says_how_to_fix(lgb_binary: Path) -> None:
    with pytest.raises(ModelError, match="'model.task: regression'.*binary model"):
        LightGBMModel.load(lgb_binary, task="regression")


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="does not exist"):
        LightGBMModel.load(tmp_path / "nope.txt", task="binary")
