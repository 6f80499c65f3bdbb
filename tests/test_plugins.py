"""Entry points, kind detection and the errors of doorstep.plugins."""

from __future__ import annotations

import sys
from importlib.metadata import entry_points
from pathlib import Path

import joblib
import lightgbm as lgb
import numpy as np
import pandas as pd
import pytest
import xgboost as xgb
from sklearn.linear_model import LogisticRegression

from doorstep.errors import ModelError, PluginError
from doorstep.plugins import AUTO_ORDER, MODELS_GROUP, load_model, model_adapters, model_kinds


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"a": rng.normal(size=200), "b": rng.normal(size=200)})
    y = (frame["a"] > 0).astype(int)
    folder = tmp_path_factory.mktemp("plugins")
    params = {"objective": "binary", "verbose": -1, "num_leaves": 4, "num_threads": 1}
    lgb.train(params, lgb.Dataset(frame, y), 5).save_model(folder / "model.txt")
    booster = xgb.train({"max_depth": 2, "objective": "binary:logistic"}, xgb.DMatrix(frame, y), 5)
    booster.save_model(folder / "model.json")
    booster.save_model(folder / "model.ubj")
    joblib.dump(LogisticRegression().fit(frame, y), folder / "model.joblib")
    joblib.dump(LogisticRegression().fit(frame, y), folder / "noext")
    (folder / "mlflow").mkdir()
    (folder / "unknown.bin").write_bytes(b"\x00\x01 not a model")
    return {p.name: p for p in folder.iterdir()}


def test_builtins_are_registered_as_entry_points() -> None:
    names = {ep.name for ep in entry_points(group=MODELS_GROUP)}
    assert set(AUTO_ORDER) <= names
    assert model_kinds()[: len(AUTO_ORDER)] == list(AUTO_ORDER)


def test_model_adapters_are_classes_with_the_protocol() -> None:
    adapters = model_adapters()
    assert adapters["lightgbm"].__name__ == "LightGBMModel"
    assert adapters["xgboost"].__name__ == "XGBoostModel"
    assert adapters["sklearn"].__name__ == "SklearnModel"
    assert adapters["onnx"].__name__ == "ONNXModel"
    assert adapters["mlflow"].__name__ == "MLflowModel"


def test_importing_doorstep_imports_no_model_library() -> None:
    import subprocess

    code = (
        "import sys, doorstep.plugins, doorstep.testing, doorstep.models.compat;"
        "heavy = {'lightgbm', 'xgboost', 'sklearn', 'onnxruntime', 'mlflow'} & set(sys.modules);"
        "print(sorted(heavy))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


@pytest.mark.parametrize(
    ("name", "kind"),
    [
        ("model.txt", "lightgbm"),
        ("model.json", "xgboost"),
        ("model.ubj", "xgboost"),
        ("model.joblib", "sklearn"),
        ("noext", "sklearn"),
    ],
)
def test_auto_detects_kind_from_content(files: dict[str, Path], name: str, kind: str) -> None:
    assert load_model(files[name], task="binary").metadata.kind == kind


def test_explicit_kind(files: dict[str, Path]) -> None:
    assert load_model(files["model.txt"], kind="lightgbm", task="binary").metadata.kind == (
        "lightgbm"
    )


def test_wrong_explicit_kind_explains(files: dict[str, Path]) -> None:
    with pytest.raises(ModelError, match=r"not a LightGBM model file \(first line was '\{"):
        load_model(files["model.json"], kind="lightgbm", task="binary")


def test_unknown_kind_lists_installed_kinds(files: dict[str, Path]) -> None:
    with pytest.raises(PluginError, match=r"Unknown model kind 'xgbost' \(did you mean 'xgboost'"):
        load_model(files["model.json"], kind="xgbost", task="binary")
    with pytest.raises(PluginError, match="Installed kinds: auto, mlflow, onnx, xgboost"):
        load_model(files["model.json"], kind="catboost", task="binary")


def test_missing_path_is_named(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match=r"nope\.txt does not exist"):
        load_model(tmp_path / "nope.txt", task="binary")


def test_unrecognised_file(files: dict[str, Path]) -> None:
    with pytest.raises(ModelError, match=r"unknown\.bin is not a model file doorstep recognises"):
        load_model(files["unknown.bin"], task="binary")


def test_folder_without_mlmodel_is_not_recognised(files: dict[str, Path]) -> None:
    with pytest.raises(ModelError, match="not a model file doorstep recognises"):
        load_model(files["mlflow"], task="binary")


def test_missing_optional_library_names_the_extra(
    files: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "xgboost", None)
    with pytest.raises(ModelError, match=r"pip install 'doorstep\[xgboost\]'"):
        load_model(files["model.json"], task="binary")
