from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import joblib
import numpy as np
import pandas as pd
import polars as pl
import pytest

from doorstep.errors import ModelError
from doorstep.models.sklearn import SklearnModel

if TYPE_CHECKING:
    from tests.models.conftest import Data


def _pipeline_frame(data: Data) -> pd.DataFrame:
    frame = data.frame.copy()
    frame["plan"] = frame["plan"].astype(object)
    frame["spend"] = frame["spend"].fillna(0.0)
    return frame


def _filled(data: Data) -> pl.DataFrame:
    return data.batch.with_columns(pl.col("spend").fill_null(0.0))


def test_hgb_native_categories_predict_like_sklearn(sklearn_hgb: Path, data: Data) -> None:
    model = SklearnModel.load(sklearn_hgb, task="binary")
    assert model.metadata.kind == "sklearn"
    assert model.metadata.categories == {"plan": sorted(data.plans)}
    expected = joblib.load(sklearn_hgb).predict_proba(data.frame)[:, 1]
    np.testing.assert_allclose(model.predict(data.batch), expected, atol=1e-12)


def test_hgb_native_categories_explained_exactly(sklearn_hgb: Path, data: Data) -> None:
    model = SklearnModel.load(sklearn_hgb, task="binary")
    rows = data.batch.head(50)
    c = model.contributions(rows)
    assert c.method == "linear-treeshap" and c.values.shape == (50, 1, 4)
    assert c.feature_names == ["tenure", "plan", "spend", "tickets"]
    p = model.predict(rows)
    np.testing.assert_allclose(
        c.base[:, 0] + c.values.sum(axis=(1, 2)), np.log(p / (1 - p)), atol=1e-9
    )


def test_hgb_unseen_category_is_missing(sklearn_hgb: Path, data: Data) -> None:
    model = SklearnModel.load(sklearn_hgb, task="binary")
    rows = data.batch.head(10)
    unseen = model.predict(rows.with_columns(pl.lit("enterprise").alias("plan")))
    null = model.predict(rows.with_columns(pl.lit(None, pl.String).alias("plan")))
    np.testing.assert_array_equal(unseen, null)


def test_tree_pipeline_predicts_like_sklearn(sklearn_tree_pipeline: Path, data: Data) -> None:
    model = SklearnModel.load(sklearn_tree_pipeline, task="binary")
    assert model.metadata.feature_names == ["tenure", "plan", "spend", "tickets"]
    assert model.metadata.categories == {"plan": sorted(data.plans)}
    expected = joblib.load(sklearn_tree_pipeline).predict_proba(_pipeline_frame(data))[:, 1]
    np.testing.assert_allclose(model.predict(_filled(data)), expected, atol=1e-12)


def test_tree_pipeline_contributions_grouped_onto_inputs(
    sklearn_tree_pipeline: Path, data: Data
) -> None:
    model = SklearnModel.load(sklearn_tree_pipeline, task="binary")
    rows = _filled(data).head(50)
    c = model.contributions(rows)
    assert c.method == "linear-treeshap"
    assert c.values.shape == (50, 1, 4)  # one-hot columns of 'plan' summed back onto 'plan'
    p = model.predict(rows)
    np.testing.assert_allclose(
        c.base[:, 0] + c.values.sum(axis=(1, 2)), np.log(p / (1 - p)), atol=1e-9
    )


def test_linear_pipeline_falls_back_to_permutation(
    sklearn_linear_pipeline: Path, data: Data
) -> None:
    reference = _filled(data)
    model = SklearnModel.load(sklearn_linear_pipeline, task="multiclass", reference=reference)
    rows = reference.head(10)
    expected = joblib.load(sklearn_linear_pipeline).predict_proba(_pipeline_frame(data).head(10))
    np.testing.assert_allclose(model.predict(rows), expected, atol=1e-12)
    c = model.contributions(rows)
    assert c.method == "permutation" and c.link == "probability"
    assert c.values.shape == (10, 3, 4)
    np.testing.assert_allclose(c.base + c.values.sum(axis=2), model.predict(rows), atol=1e-9)


def test_permutation_without_reference_says_how_to_fix(
    sklearn_linear_pipeline: Path, data: Data
) -> None:
    from doorstep.errors import ExplanationError

    model = SklearnModel.load(sklearn_linear_pipeline, task="multiclass")
    with pytest.raises(ExplanationError, match="add 'reference:'"):
        model.contributions(_filled(data).head(3))


def test_unseen_category_in_pipeline_is_scored_as_missing(
    sklearn_tree_pipeline: Path, data: Data
) -> None:
    model = SklearnModel.load(sklearn_tree_pipeline, task="binary")
    rows = _filled(data).head(5)
    unseen = model.predict(rows.with_columns(pl.lit("enterprise").alias("plan")))
    null = model.predict(rows.with_columns(pl.lit(None, pl.String).alias("plan")))
    np.testing.assert_array_equal(unseen, null)


def test_wrong_task(sklearn_linear_pipeline: Path) -> None:
    with pytest.raises(ModelError, match="'model.task: multiclass'"):
        SklearnModel.load(sklearn_linear_pipeline, task="binary")


def test_corrupt_joblib_file(tmp_path: Path) -> None:
    path = tmp_path / "model.joblib"
    path.write_bytes(b"\x80\x04not really a pickle")
    with pytest.raises(ModelError, match=r"model.joblib could not be read as a joblib/pickle"):
        SklearnModel.load(path, task="binary")


def test_joblib_without_an_estimator(tmp_path: Path) -> None:
    path = tmp_path / "model.joblib"
    joblib.dump({"weights": [1, 2]}, path)
    with pytest.raises(ModelError, match="holds a dict, not a fitted scikit-learn estimator"):
        SklearnModel.load(path, task="binary")
