"""Every built-in adapter passes the public conformance suite."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import polars as pl
import pytest

from doorstep.core.ports import Task
from doorstep.plugins import load_model
from doorstep.testing import check_model_adapter

if TYPE_CHECKING:
    from tests.models.conftest import Data

CASES: list[tuple[str, str, Task, str, float]] = [
    # fixture, expected kind, task, batch columns ("all", "filled" or a list), additivity atol
    ("lgb_binary", "lightgbm", "binary", "all", 1e-6),
    ("lgb_multiclass", "lightgbm", "multiclass", "all", 1e-6),
    ("lgb_positional", "lightgbm", "regression", "tenure,tickets,spend", 1e-6),
    ("lgb_wrapper_joblib", "lightgbm", "binary", "all", 1e-6),
    ("xgb_binary_json", "xgboost", "binary", "all", 1e-4),
    ("xgb_multiclass", "xgboost", "multiclass", "all", 1e-4),
    ("xgb_regression", "xgboost", "regression", "all", 1e-4),
    ("sklearn_hgb", "sklearn", "binary", "all", 1e-6),
    ("sklearn_tree_pipeline", "sklearn", "binary", "filled", 1e-6),
    ("sklearn_linear_pipeline", "sklearn", "multiclass", "filled", 1e-6),
    ("onnx_pipeline", "onnx", "binary", "filled", 1e-6),
    ("onnx_matrix", "onnx", "regression", "tenure,tickets", 1e-6),
    ("mlflow_lightgbm", "mlflow", "binary", "all", 1e-6),
    ("mlflow_sklearn", "mlflow", "binary", "tenure,tickets", 1e-6),
]


@pytest.mark.parametrize(
    ("fixture", "kind", "task", "columns", "atol"), CASES, ids=[c[0] for c in CASES]
)
def test_builtin_adapter_conforms(
    fixture: str,
    kind: str,
    task: Task,
    columns: str,
    atol: float,
    data: Data,
    request: pytest.FixtureRequest,
) -> None:
    path: Path = request.getfixturevalue(fixture)
    batch = data.batch.head(40)
    if columns == "filled":
        batch = batch.with_columns(pl.col("spend").fill_null(0.0))
    elif columns != "all":
        batch = batch.select(columns.split(","))
    model = load_model(path, task=task, reference=batch)
    assert model.metadata.kind == kind
    check_model_adapter(model, batch, atol=atol)
