"""Entry points, kind detection and the errors of doorstep.plugins: model adapters and feature
sources (connectors: tests/services/deliver/test_delivery.py)."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from importlib.metadata import entry_points
from pathlib import Path
from types import SimpleNamespace

import joblib
import lightgbm as lgb
import numpy as np
import pandas as pd
import pytest
import xgboost as xgb
from sklearn.linear_model import LogisticRegression

from doorstep import plugins
from doorstep.core.spec.sources import SQLSourceSpec
from doorstep.errors import ModelError, PluginError
from doorstep.plugins import (
    AUTO_ORDER,
    MODELS_GROUP,
    SOURCES_GROUP,
    load_model,
    model_adapters,
    model_kinds,
    open_source,
    source_factory,
    source_types,
)
from doorstep.sources.base import FeatureRow
from doorstep.sources.redis import RedisFeatureSource
from doorstep.sources.sql import SQLFeatureSource


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
    with pytest.raises(PluginError, match=r"'atuo' \(did you mean 'auto'\?\)"):
        load_model(files["model.json"], kind="atuo", task="binary")


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


# feature sources

PLUGIN_SOURCE = '''
from doorstep.sources.base import FeatureRow


class MemoryFeatureSource:
    """A third-party source: rows from the spec entry itself."""

    kind = "memory"

    def __init__(self, name, rows, fields):
        self.name, self.rows, self.fields, self.timeout = name, rows, tuple(fields), 1.0

    @classmethod
    def from_spec(cls, name, spec, *, id_field, fields, base_dir):
        return cls(name, spec.rows, fields)

    def lookup(self, ids):
        return {i: FeatureRow(self.rows[i], None) for i in ids if i in self.rows}

    def close(self):
        pass


NOT_A_CLASS = "memory"
'''


@pytest.fixture
def plugin_sources(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """An installed distribution (a dist-info folder on sys.path) registering sources."""
    (tmp_path / "doorstep_memory.py").write_text(PLUGIN_SOURCE)
    info = tmp_path / "doorstep_memory-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: doorstep-memory\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(
        f"[{SOURCES_GROUP}]\n"
        "memory = doorstep_memory:MemoryFeatureSource\n"
        "constant = doorstep_memory:NOT_A_CLASS\n"
        "broken = doorstep_memory_gone:Source\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    plugins._source_entry_points.cache_clear()
    yield
    plugins._source_entry_points.cache_clear()
    sys.modules.pop("doorstep_memory", None)


def test_builtin_sources_are_registered_as_entry_points() -> None:
    names = {ep.name for ep in entry_points(group=SOURCES_GROUP)}
    assert {"sql", "redis", "feast"} <= names
    assert source_factory("sql") is SQLFeatureSource
    assert source_factory("redis") is RedisFeatureSource
    assert source_factory("feast").__name__ == "FeastFeatureSource"


def test_builtin_sources_open_through_their_entry_point(tmp_path: Path) -> None:
    spec = SQLSourceSpec(type="sql", url="sqlite:///features.db", table="customers")
    source = open_source("crm", spec, id_field="customer_id", fields=["plan"], base_dir=tmp_path)
    try:
        assert isinstance(source, SQLFeatureSource)
        assert source.name == "crm" and source.fields == ("plan",)
    finally:
        source.close()


@pytest.mark.usefixtures("plugin_sources")
def test_a_third_party_source_is_found_and_opened(tmp_path: Path) -> None:
    assert "memory" in source_types()
    assert source_factory("memory").__name__ == "MemoryFeatureSource"
    spec = SimpleNamespace(type="memory", rows={"C-1": {"plan": "premium"}})
    source = open_source("cache", spec, id_field="customer_id", fields=["plan"], base_dir=tmp_path)
    assert source.lookup(["C-1", "C-2"]) == {"C-1": FeatureRow({"plan": "premium"}, None)}


@pytest.mark.usefixtures("plugin_sources")
def test_a_bad_source_entry_point_is_named() -> None:
    with pytest.raises(PluginError, match=r"'constant' = 'doorstep_memory:NOT_A_CLASS'.*from_spec"):
        source_factory("constant")
    with pytest.raises(PluginError, match=r"The 'broken' feature source \(source 'x'\).*Reinstall"):
        source_factory("broken", source="x")


def test_an_unknown_source_type_suggests_the_nearest() -> None:
    with pytest.raises(PluginError) as caught:
        source_factory("sqll", source="customer_db")
    message = caught.value.message
    assert "No feature source of type 'sqll' is installed (source 'customer_db')" in message
    assert "(did you mean 'sql'?)" in message
    assert "Installed types: feast, redis, sql" in message
    assert "'doorstep.sources' entry point" in message


def test_importing_the_plugins_imports_no_source() -> None:
    import subprocess

    code = (
        "import sys, doorstep.plugins;"
        "print(sorted(m for m in sys.modules if m.startswith('doorstep.sources.')"
        " or m in ('sqlalchemy', 'redis', 'feast')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "['doorstep.sources.base']"
