from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import polars as pl
import pytest
import xgboost as xgb

from doorstep.errors import ModelError
from doorstep.models.xgboost import XGBoostModel

if TYPE_CHECKING:
    from tests.models.conftest import Data


@pytest.mark.parametrize("fixture", ["xgb_binary_json", "xgb_binary_ubj"])
def test_categorical_model_trained_on_pandas_predicts_identically(
    fixture: str, data: Data, request: pytest.FixtureRequest
) -> None:
    path: Path = request.getfixturevalue(fixture)
    model = XGBoostModel.load(path, task="binary")
    assert model.metadata.categories == {"plan": list(data.plans)}
    booster = xgb.Booster(model_file=path)
    expected = booster.predict(xgb.DMatrix(data.frame, enable_categorical=True))
    # XGBoost computes in float32; doorstep takes the sigmoid of its margin in float64
    np.testing.assert_allclose(model.predict(data.batch), expected, atol=1e-6)


def test_json_and_ubj_agree(xgb_binary_json: Path, xgb_binary_ubj: Path, data: Data) -> None:
    a = XGBoostModel.load(xgb_binary_json, task="binary").predict(data.batch)
    b = XGBoostModel.load(xgb_binary_ubj, task="binary").predict(data.batch)
    np.testing.assert_array_equal(a, b)


def test_binary_contributions_add_up_to_the_margin(xgb_binary_ubj: Path, data: Data) -> None:
    model = XGBoostModel.load(xgb_binary_ubj, task="binary")
    c = model.contributions(data.batch)
    assert c.values.shape == (data.batch.height, 1, 4)
    assert c.link == "logit" and c.method == "linear-treeshap"
    p = model.predict(data.batch)
    np.testing.assert_allclose(
        c.base[:, 0] + c.values.sum(axis=(1, 2)), np.log(p / (1 - p)), atol=1e-5
    )


def test_contributions_match_xgboost_on_pandas(xgb_binary_ubj: Path, data: Data) -> None:
    booster = xgb.Booster(model_file=xgb_binary_ubj)
    native = booster.predict(xgb.DMatrix(data.frame, enable_categorical=True), pred_contribs=True)
    c = XGBoostModel.load(xgb_binary_ubj, task="binary").contributions(data.batch)
    np.testing.assert_allclose(c.values[:, 0, :], native[:, :-1], atol=1e-6)


def test_multiclass(xgb_multiclass: Path, data: Data) -> None:
    model = XGBoostModel.load(xgb_multiclass, task="multiclass")
    assert model.metadata.classes == ["0", "1", "2"]
    expected = xgb.Booster(model_file=xgb_multiclass).predict(
        xgb.DMatrix(data.frame, enable_categorical=True)
    )
    scores = model.predict(data.batch)
    np.testing.assert_allclose(scores, expected, atol=1e-6)
    c = model.contributions(data.batch)
    assert c.values.shape == (data.batch.height, 3, 4) and c.link == "softmax"


def test_regression(xgb_regression: Path, data: Data) -> None:
    model = XGBoostModel.load(xgb_regression, task="regression")
    expected = xgb.Booster(model_file=xgb_regression).inplace_predict(data.frame)
    np.testing.assert_allclose(model.predict(data.batch), expected, atol=1e-5)
    c = model.contributions(data.batch)
    np.testing.assert_allclose(c.base[:, 0] + c.values.sum(axis=(1, 2)), expected, atol=1e-4)


def test_unseen_category_is_missing(xgb_binary_json: Path, data: Data) -> None:
    model = XGBoostModel.load(xgb_binary_json, task="binary")
    rows = data.batch.head(20)
    unseen = model.predict(rows.with_columns(pl.lit("enterprise").alias("plan")))
    null = model.predict(rows.with_columns(pl.lit(None, pl.String).alias("plan")))
    np.testing.assert_array_equal(unseen, null)
    frame = data.frame.head(20).copy()
    frame["plan"] = pd.Categorical([None] * 20, categories=list(data.plans))
    expected = xgb.Booster(model_file=xgb_binary_json).predict(
        xgb.DMatrix(frame, enable_categorical=True)
    )
    np.testing.assert_allclose(null, expected, atol=1e-6)


def test_not_an_xgboost_file(tmp_path: Path) -> None:
    path = tmp_path / "model.json"
    path.write_text('{"hello": 1}')
    with pytest.raises(ModelError, match=r"not an XGBoost model file .*save_model"):
        XGBoostModel.load(path, task="binary")


def test_corrupt_xgboost_file(tmp_path: Path) -> None:
    path = tmp_path / "model.json"
    path.write_text('{"learner": {"broken": ')
    with pytest.raises(ModelError, match="XGBoost could not read"):
        XGBoostModel.load(path, task="binary")


def test_missing_library_names_the_extra(
    xgb_binary_json: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "xgboost", None)
    with pytest.raises(ModelError, match=r"pip install 'doorstep\[xgboost\]'"):
        XGBoostModel.load(xgb_binary_json, task="binary")
