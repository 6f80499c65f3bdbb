"""Small models of every kind, trained once per session on synthetic data and saved to files."""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import joblib
import lightgbm as lgb
import numpy as np
import pandas as pd
import polars as pl
import pytest
import xgboost as xgb
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import (
    GradientBoostingClassifier,
    HistGradientBoostingClassifier,
    RandomForestRegressor,
)
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

PLANS = ["plus", "basic", "premium"]  # deliberately not sorted: codes follow this order
ROWS = 400


@dataclass(frozen=True)
class Data:
    frame: pd.DataFrame  # as the model was trained (plan is a pandas categorical)
    batch: pl.DataFrame  # as doorstep hands it to a model (spec order, plan as String)
    binary: np.ndarray
    multiclass: np.ndarray
    target: np.ndarray
    plans: tuple[str, ...] = tuple(PLANS)


def make_data(rows: int = ROWS, seed: int = 0) -> Data:
    rng = np.random.default_rng(seed)
    plan = rng.choice(PLANS, rows)
    tenure = rng.integers(0, 120, rows)
    spend = rng.gamma(2.0, 30.0, rows)
    spend[rng.random(rows) < 0.05] = np.nan
    tickets = rng.poisson(2.0, rows)
    frame = pd.DataFrame(
        {
            "tenure": tenure.astype("int64"),
            "plan": pd.Categorical(plan, categories=PLANS),
            "spend": spend,
            "tickets": tickets.astype("int64"),
        }
    )
    signal = 0.8 * tickets - 0.03 * tenure + (plan == "basic") * 1.0 - 0.01 * np.nan_to_num(spend)
    noisy = signal + rng.normal(0, 0.5, rows)
    binary = (noisy > np.median(noisy)).astype(int)
    multiclass = np.digitize(noisy, np.quantile(noisy, [0.33, 0.66]))
    batch = pl.DataFrame(
        {
            "plan": pl.Series(plan.tolist(), dtype=pl.String),
            "tenure": pl.Series(tenure.tolist(), dtype=pl.Int64),
            "tickets": pl.Series(tickets.tolist(), dtype=pl.Int64),
            "spend": pl.Series([None if np.isnan(s) else float(s) for s in spend]),
        }
    )
    return Data(frame, batch, binary, multiclass, signal)


@pytest.fixture(scope="session")
def data() -> Data:
    return make_data()


@pytest.fixture(scope="session")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("models")


def _lgb_params(**extra: Any) -> dict[str, Any]:
    return {"verbose": -1, "num_leaves": 8, "min_data_in_leaf": 5, "num_threads": 1, **extra}


@pytest.fixture(scope="session")
def lgb_binary(data: Data, model_dir: Path) -> Path:
    booster = lgb.train(_lgb_params(objective="binary"), lgb.Dataset(data.frame, data.binary), 30)
    path = model_dir / "binary.lgb.txt"
    booster.save_model(path)
    return path


@pytest.fixture(scope="session")
def lgb_multiclass(data: Data, model_dir: Path) -> Path:
    params = _lgb_params(objective="multiclass", num_class=3)
    booster = lgb.train(params, lgb.Dataset(data.frame, data.multiclass), 20)
    path = model_dir / "multiclass.txt"
    booster.save_model(path)
    return path


@pytest.fixture(scope="session")
def lgb_positional(data: Data, model_dir: Path) -> Path:
    """A regression trained on a bare numpy matrix: features are Column_0, Column_1, ..."""
    matrix = data.frame[["tenure", "tickets", "spend"]].to_numpy(dtype=float)
    booster = lgb.train(_lgb_params(objective="regression"), lgb.Dataset(matrix, data.target), 20)
    path = model_dir / "positional.txt"
    booster.save_model(path)
    return path


@pytest.fixture(scope="session")
def lgb_wrapper_joblib(data: Data, model_dir: Path) -> Path:
    model = lgb.LGBMClassifier(n_estimators=20, **_lgb_params())
    model.fit(data.frame, np.where(data.binary == 1, "churned", "stayed"))
    path = model_dir / "lgbm_wrapper.joblib"
    joblib.dump(model, path)
    return path


def _xgb(objective: str, **extra: Any) -> dict[str, Any]:
    return {"objective": objective, "max_depth": 3, "nthread": 1, "max_cat_to_onehot": 1, **extra}


def _xgb_train(data: Data, y: np.ndarray, params: dict[str, Any]) -> Any:
    matrix = xgb.DMatrix(data.frame, y, enable_categorical=True)
    return xgb.train(params, matrix, num_boost_round=20)


@pytest.fixture(scope="session")
def xgb_binary_json(data: Data, model_dir: Path) -> Path:
    path = model_dir / "binary.json"
    _xgb_train(data, data.binary, _xgb("binary:logistic")).save_model(path)
    return path


@pytest.fixture(scope="session")
def xgb_binary_ubj(xgb_binary_json: Path, model_dir: Path) -> Path:
    path = model_dir / "binary.ubj"
    xgb.Booster(model_file=xgb_binary_json).save_model(path)
    return path


@pytest.fixture(scope="session")
def xgb_multiclass(data: Data, model_dir: Path) -> Path:
    path = model_dir / "multiclass.ubj"
    _xgb_train(data, data.multiclass, _xgb("multi:softprob", num_class=3)).save_model(path)
    return path


@pytest.fixture(scope="session")
def xgb_regression(data: Data, model_dir: Path) -> Path:
    path = model_dir / "regression.json"
    _xgb_train(data, data.target, _xgb("reg:squarederror")).save_model(path)
    return path


@pytest.fixture(scope="session")
def sklearn_hgb(data: Data, model_dir: Path) -> Path:
    """HistGradientBoosting with native categorical splits from the pandas dtype."""
    model = HistGradientBoostingClassifier(
        max_iter=20, categorical_features="from_dtype", random_state=0
    )
    model.fit(data.frame, data.binary)
    path = model_dir / "hgb.joblib"
    joblib.dump(model, path)
    return path


def pipeline_frame(data: Data) -> pd.DataFrame:
    """The training frame as most pipelines see it: plan as plain strings, spend imputed."""
    frame = data.frame.copy()
    frame["plan"] = frame["plan"].astype(object)
    frame["spend"] = frame["spend"].fillna(0.0)
    return frame


def _column_transformer() -> ColumnTransformer:
    return ColumnTransformer(
        [
            ("plan", OneHotEncoder(handle_unknown="ignore", sparse_output=False), ["plan"]),
            ("scaled", StandardScaler(), ["spend", "tenure"]),
        ],
        remainder="passthrough",
    )


@pytest.fixture(scope="session")
def sklearn_tree_pipeline(data: Data, model_dir: Path) -> Path:
    model = Pipeline(
        [
            ("columns", _column_transformer()),
            ("trees", GradientBoostingClassifier(n_estimators=20, max_depth=3, random_state=0)),
        ]
    )
    model.fit(pipeline_frame(data), data.binary)
    path = model_dir / "tree_pipeline.joblib"
    joblib.dump(model, path)
    return path


@pytest.fixture(scope="session")
def sklearn_linear_pipeline(data: Data, model_dir: Path) -> Path:
    model = Pipeline([("columns", _column_transformer()), ("linear", LogisticRegression())])
    model.fit(pipeline_frame(data), data.multiclass)
    path = model_dir / "linear_pipeline.pkl"
    joblib.dump(model, path)
    return path


@pytest.fixture(scope="session")
def onnx_pipeline(data: Data, model_dir: Path) -> Path:
    """A ColumnTransformer pipeline exported with one ONNX input per column."""
    from skl2onnx import convert_sklearn
    from skl2onnx.common.data_types import FloatTensorType, Int64TensorType, StringTensorType

    frame = pipeline_frame(data)
    model = Pipeline([("columns", _column_transformer()), ("linear", LogisticRegression())])
    model.fit(frame, data.binary)
    types = [
        ("tenure", Int64TensorType([None, 1])),
        ("plan", StringTensorType([None, 1])),
        ("spend", FloatTensorType([None, 1])),
        ("tickets", Int64TensorType([None, 1])),
    ]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        onx = convert_sklearn(model, initial_types=types, options={"zipmap": False})
    path = model_dir / "pipeline.onnx"
    path.write_bytes(onx.SerializeToString())
    joblib.dump(model, model_dir / "onnx_source.joblib")
    return path


@pytest.fixture(scope="session")
def onnx_matrix(data: Data, model_dir: Path) -> Path:
    """A regression forest exported with one float tensor holding every feature."""
    from skl2onnx import to_onnx

    matrix = data.frame[["tenure", "tickets"]].to_numpy(dtype=np.float32)
    model = RandomForestRegressor(n_estimators=10, max_depth=4, random_state=0)
    model.fit(matrix, data.target)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        onx = to_onnx(model, matrix[:1])
    path = model_dir / "matrix.onnx"
    path.write_bytes(onx.SerializeToString())
    return path


@pytest.fixture(scope="session")
def mlflow_lightgbm(data: Data, model_dir: Path) -> Path:
    import mlflow.lightgbm

    booster = lgb.train(_lgb_params(objective="binary"), lgb.Dataset(data.frame, data.binary), 20)
    path = model_dir / "mlflow_lightgbm"
    mlflow.lightgbm.save_model(booster, path, pip_requirements=["lightgbm"])
    return path


@pytest.fixture(scope="session")
def mlflow_sklearn(data: Data, model_dir: Path) -> Path:
    """A pyfunc without a native flavor doorstep knows: explained by permutation."""
    import mlflow.sklearn
    from mlflow.models import infer_signature

    frame = data.frame[["tenure", "tickets"]]
    model = LogisticRegression().fit(frame, data.binary)
    outputs = pd.DataFrame(model.predict_proba(frame), columns=["stayed", "churned"])
    path = model_dir / "mlflow_sklearn"
    mlflow.sklearn.save_model(
        model,
        path,
        pip_requirements=["scikit-learn"],
        signature=infer_signature(frame, outputs),
        pyfunc_predict_fn="predict_proba",
    )
    return path
