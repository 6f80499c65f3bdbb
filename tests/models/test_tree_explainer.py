"""linear-treeshap inside the LightGBM, XGBoost and scikit-learn adapters, against the libraries'
own TreeSHAP on real models (categorical splits, missing values, several outputs)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import lightgbm as lgb
import numpy as np
import pandas as pd
import polars as pl
import pytest
import xgboost as xgb
from sklearn.ensemble import HistGradientBoostingClassifier

from doorstep.core.ports import Contributions, ExplainerChoice, Model, Task
from doorstep.errors import ExplanationError
from doorstep.models.lightgbm import LightGBMModel
from doorstep.models.sklearn import SklearnModel
from doorstep.models.xgboost import XGBoostModel

if TYPE_CHECKING:
    from tests.models.conftest import Data


def _batch(data: Data) -> pl.DataFrame:
    """The fixture rows plus nulls everywhere and a category the models never saw."""
    odd = data.batch.head(40).with_columns(
        pl.when(pl.int_range(pl.len()) % 2 == 0).then(pl.col("plan")).otherwise(pl.lit("gold")),
        pl.when(pl.int_range(pl.len()) % 3 == 0).then(None).otherwise(pl.col("tenure")),
        pl.lit(None, pl.Float64).alias("spend"),
    )
    return pl.concat([data.batch, odd.select(data.batch.columns)])


def _choice(model: Model) -> ExplainerChoice:
    assert isinstance(model, ExplainerChoice)
    return model


def _both(model: Model, batch: pl.DataFrame) -> tuple[Contributions, Contributions]:
    choice = _choice(model)
    assert choice.use_explainer("auto") == "linear-treeshap"
    linear = model.contributions(batch)
    native_name = choice.use_explainer("native")
    native = model.contributions(batch)
    assert linear.method == "linear-treeshap" and native.method == native_name
    return linear, native


@pytest.mark.parametrize(
    ("fixture", "task"), [("lgb_binary", "binary"), ("lgb_multiclass", "multiclass")]
)
def test_lightgbm_equals_pred_contrib_to_1e_9(
    fixture: str, task: Task, data: Data, request: pytest.FixtureRequest
) -> None:
    model = LightGBMModel.load(request.getfixturevalue(fixture), task=task)
    linear, native = _both(model, _batch(data))
    np.testing.assert_allclose(linear.values, native.values, rtol=0, atol=1e-9)
    np.testing.assert_allclose(linear.base, native.base, rtol=0, atol=1e-9)


def test_lightgbm_deep_model_with_many_categories_equals_pred_contrib(tmp_path: Path) -> None:
    rng = np.random.default_rng(5)
    rows = 3000
    frame = pd.DataFrame({f"x{i}": rng.normal(size=rows) for i in range(6)})
    frame["city"] = pd.Categorical(rng.integers(0, 60, rows).astype(str))
    frame.loc[rng.random(rows) < 0.1, "x0"] = np.nan
    target = frame["x1"].fillna(0) * 2 + frame["city"].cat.codes % 7 + rng.normal(size=rows)
    params = {"verbose": -1, "num_leaves": 255, "max_depth": 12, "min_data_in_leaf": 3}
    booster = lgb.train(params, lgb.Dataset(frame, target), 20)
    path = tmp_path / "deep.txt"
    booster.save_model(path)
    model = LightGBMModel.load(path, task="regression")
    batch = pl.from_pandas(frame.head(300).astype({"city": str}))
    linear, native = _both(model, batch)
    np.testing.assert_allclose(linear.values, native.values, rtol=0, atol=1e-9)


@pytest.mark.parametrize(
    ("fixture", "task"),
    [
        ("xgb_binary_json", "binary"),
        ("xgb_multiclass", "multiclass"),
        ("xgb_regression", "regression"),
    ],
)
def test_xgboost_equals_pred_contribs_to_its_float32(
    fixture: str, task: Task, data: Data, request: pytest.FixtureRequest
) -> None:
    model = XGBoostModel.load(request.getfixturevalue(fixture), task=task)
    batch = _batch(data)
    linear, native = _both(model, batch)
    values = linear.values
    scale = max(1.0, float(np.abs(native.values).max()))
    np.testing.assert_allclose(values, native.values, rtol=0, atol=2e-6 * scale)
    margin = linear.base + values.sum(-1)
    expected = native.base + native.values.sum(-1)
    np.testing.assert_allclose(margin, expected, rtol=0, atol=1e-5 * scale)


def test_xgboost_float32_thresholds_route_like_xgboost(tmp_path: Path) -> None:
    """Rows equal to a split value, or between it and its float64 neighbour, go as in XGBoost."""
    rng = np.random.default_rng(1)
    X = rng.normal(size=(2000, 3)).astype(np.float32).astype(np.float64)
    booster = xgb.train({"max_depth": 4}, xgb.DMatrix(X, X[:, 0] > 0.1), 10)
    path = tmp_path / "f32.json"
    booster.save_model(path)
    model = XGBoostModel.load(path, task="regression")
    splits = np.unique([float(v) for v in booster.trees_to_dataframe()["Split"].dropna()])
    probe = np.repeat(np.r_[splits, np.nextafter(splits, np.inf)][:, None], 3, axis=1)
    batch = pl.DataFrame(probe, schema=["f0", "f1", "f2"], orient="row")
    linear, native = _both(model, batch)
    np.testing.assert_allclose(
        linear.base + linear.values.sum(-1),
        booster.predict(xgb.DMatrix(probe), output_margin=True)[:, None],
        rtol=0,
        atol=1e-5,
    )


def test_scikit_learn_native_is_the_numpy_treeshap(data: Data) -> None:
    estimator = HistGradientBoostingClassifier(max_iter=15, categorical_features="from_dtype")
    estimator.fit(data.frame, data.binary)
    model = SklearnModel.from_estimator(estimator, task="binary")
    linear, native = _both(model, data.batch)
    assert native.method == "treeshap"
    np.testing.assert_allclose(linear.values, native.values, rtol=0, atol=1e-9)
    compiled = _choice(model).use_explainer("auto") and _choice(model).explainer_precomputation()
    assert compiled and compiled[0] > 0 and compiled[1] > 0


def test_trees_that_cannot_be_read_fall_back_to_the_library(tmp_path: Path) -> None:
    rng = np.random.default_rng(2)
    X = rng.normal(size=(500, 3))
    X[X[:, 0] > 1, 0] = 0.0
    params = {"verbose": -1, "zero_as_missing": True, "num_leaves": 8}
    booster = lgb.train(params, lgb.Dataset(X, X[:, 0] + X[:, 1]), 5)
    path = tmp_path / "zero.txt"
    booster.save_model(path)
    model = _choice(LightGBMModel.load(path, task="regression"))
    assert model.use_explainer("auto") == "lightgbm-native"
    assert model.explainer_precomputation() is None
    with pytest.raises(ExplanationError, match="zero_as_missing"):
        model.use_explainer("linear")
