"""The conformance suite catches broken adapters, one check at a time."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import lightgbm as lgb
import numpy as np
import numpy.typing as npt
import polars as pl
import pytest

from doorstep.core.ports import Contributions, Model, ModelMetadata
from doorstep.models.lightgbm import LightGBMModel
from doorstep.testing import check_model_adapter


@pytest.fixture(scope="module")
def batch() -> pl.DataFrame:
    rng = np.random.default_rng(1)
    return pl.DataFrame({"a": rng.normal(size=300), "b": rng.normal(size=300)})


@pytest.fixture(scope="module")
def model_path(batch: pl.DataFrame, tmp_path_factory: pytest.TempPathFactory) -> Path:
    frame = batch.to_pandas()
    y = (frame["a"] + frame["b"] > 0).astype(int)
    params = {"objective": "binary", "verbose": -1, "num_leaves": 4, "num_threads": 1}
    booster = lgb.train(params, lgb.Dataset(frame, y), 10)
    path = tmp_path_factory.mktemp("testing") / "model.txt"
    booster.save_model(path)
    return path


class BrokenModel:
    """A plugin adapter with one deliberate defect, delegating the rest to LightGBMModel."""

    def __init__(self, inner: Model, defect: str) -> None:
        self._inner = inner
        self.defect = defect
        self.metadata: ModelMetadata = inner.metadata
        if defect == "bad hash":
            self.metadata = replace(inner.metadata, content_hash="md5:1234")
        if defect == "classes":
            self.metadata = replace(inner.metadata, classes=["only"])

    def predict(self, batch: pl.DataFrame) -> npt.NDArray[np.float64]:
        scores = self._inner.predict(batch)
        if self.defect == "float32":
            return scores.astype(np.float32)
        if self.defect == "logits":
            return np.log(scores / (1 - scores))
        if self.defect == "row order":
            return np.sort(scores)
        if self.defect == "two columns":
            return np.column_stack([1 - scores, scores])
        if self.defect == "nulls crash" and batch.null_count().sum_horizontal().item() > 0:
            raise ValueError("Input contains NaN")
        if self.defect == "empty" and batch.height == 0:
            raise IndexError("index 0 is out of bounds")
        return scores

    def contributions(self, batch: pl.DataFrame) -> Contributions:
        c = self._inner.contributions(batch)
        if self.defect == "not additive":
            return replace(c, values=c.values * 1.5)
        if self.defect == "wrong shape" and batch.height:
            return replace(c, values=c.values[:, 0, :])
        return c


DEFECTS = {
    "bad hash": "metadata: 'content_hash' must be 'sha256:<64 hex digits>'",
    "classes": "metadata: a binary model must have == 2 classes",
    "float32": "predict: predict must return float64",
    "logits": "predict: probabilities must lie in",
    "row order": "row_order: predictions change with rows permuted",
    "two columns": "predict: predict returned shape (300, 2), expected (300,)",
    "nulls crash": "nulls: predict on a batch with nulls raised ValueError",
    "empty": "empty: raised IndexError: index 0 is out of bounds",
    "not additive": "contributions: contributions are not additive",
    "wrong shape": "contributions: values have shape (64, 2), expected (64, 1, 2)",
}


@pytest.mark.parametrize("defect", list(DEFECTS))
def test_suite_catches_defect(defect: str, model_path: Path, batch: pl.DataFrame) -> None:
    broken = BrokenModel(LightGBMModel.load(model_path, task="binary"), defect)
    with pytest.raises(AssertionError) as info:
        check_model_adapter(broken, batch)
    message = str(info.value)
    assert message.startswith("check_model_adapter[lightgbm] ")
    assert DEFECTS[defect] in message


def test_sound_adapter_passes(model_path: Path, batch: pl.DataFrame) -> None:
    check_model_adapter(LightGBMModel.load(model_path, task="binary"), batch)


def test_batch_must_have_rows(model_path: Path, batch: pl.DataFrame) -> None:
    with pytest.raises(ValueError, match="at least 2 rows"):
        check_model_adapter(LightGBMModel.load(model_path, task="binary"), batch.head(1))
