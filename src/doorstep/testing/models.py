"""A conformance suite for model adapters, public for plugin authors (in the spirit of
scikit-learn's ``check_estimator``)::

    from doorstep.testing import check_model_adapter

    def test_my_adapter(tmp_path):
        model = MyModel.load(path, task="binary", reference=reference)
        check_model_adapter(model, batch)

``batch`` is a typed polars frame as doorstep hands it to models (see
:mod:`doorstep.core.ports`), holding the model's features and a few dozen rows. Each failed check
raises :class:`AssertionError` naming the adapter, the check and what was wrong.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import partial
from typing import get_args

import numpy as np
import numpy.typing as npt
import polars as pl

from doorstep.core.ports import Contributions, Link, Model, ModelMetadata, Task
from doorstep.errors import ExplanationError, ModelError
from doorstep.models.frames import is_positional

__all__ = ["check_model_adapter"]

_HASH = re.compile(r"^sha256:[0-9a-f]{64}$")
_EXPLAIN_ROWS = 64


def check_model_adapter(model: Model, batch: pl.DataFrame, *, atol: float = 1e-6) -> None:
    """Run every conformance check on a loaded ``model`` with a representative ``batch``.

    ``atol`` bounds the additivity error of contributions and how much a row's score may move
    with the batch around it (raise it for libraries that compute in float32, such as XGBoost).
    """
    if batch.height < 2:
        raise ValueError("check_model_adapter needs a batch of at least 2 rows")
    name = getattr(getattr(model, "metadata", None), "kind", type(model).__name__)
    checks = [
        _check_metadata,
        _check_columns,
        _check_predict,
        _check_deterministic,
        _check_row_order,
        _check_single_row,
        _check_empty,
        _check_nulls,
    ]
    for check in checks:
        _run(name, check.__name__, partial(check, model, batch, atol))
    _run(name, "_check_contributions", partial(_check_contributions, model, batch, atol))


def _run(name: str, check: str, body: Callable[[], None]) -> None:
    try:
        body()
    except AssertionError as exc:
        raise AssertionError(f"check_model_adapter[{name}] {check[7:]}: {exc}") from exc
    except Exception as exc:
        raise AssertionError(
            f"check_model_adapter[{name}] {check[7:]}: raised {type(exc).__name__}: {exc}"
        ) from exc


def _check_metadata(model: Model, batch: pl.DataFrame, atol: float) -> None:
    meta = getattr(model, "metadata", None)
    assert isinstance(meta, ModelMetadata), f"'metadata' must be a ModelMetadata, got {meta!r}"
    assert isinstance(meta.kind, str) and meta.kind, "'kind' must be a non-empty string"
    assert meta.task in get_args(Task), f"'task' must be one of {get_args(Task)}, got {meta.task!r}"
    names = meta.feature_names
    assert names and all(isinstance(n, str) for n in names), "'feature_names' must be strings"
    assert len(set(names)) == len(names), f"'feature_names' has duplicates: {names}"
    assert _HASH.match(meta.content_hash), (
        f"'content_hash' must be 'sha256:<64 hex digits>', got {meta.content_hash!r}"
    )
    assert all(isinstance(c, str) for c in meta.classes), f"classes must be strings: {meta.classes}"
    assert len(set(meta.classes)) == len(meta.classes), f"duplicate classes: {meta.classes}"
    expected = {"binary": "== 2", "multiclass": ">= 2", "regression": "== 0"}[meta.task]
    count = len(meta.classes)
    ok = {"binary": count == 2, "multiclass": count >= 2, "regression": count == 0}[meta.task]
    assert ok, f"a {meta.task} model must have {expected} classes, got {meta.classes}"
    for feature, categories in meta.categories.items():
        assert feature in names, f"categories given for {feature!r}, not a feature"
        assert all(isinstance(c, str) for c in categories), f"categories of {feature!r}: strings"
    assert isinstance(meta.library_version, str), "'library_version' must be a string"


def _check_columns(model: Model, batch: pl.DataFrame, atol: float) -> None:
    names = model.metadata.feature_names
    if is_positional(names):
        assert batch.width == len(names), (
            f"the model takes {len(names)} features by position, the batch has {batch.width}"
        )
        return
    assert sorted(names) == sorted(batch.columns), (
        f"feature_names {names} do not match the batch columns {batch.columns}"
    )
    shuffled = batch.select(list(reversed(batch.columns)))
    _assert_close(model.predict(shuffled), model.predict(batch), "with columns reordered", atol)


def _outputs(model: Model) -> int:
    return len(model.metadata.classes) if model.metadata.task == "multiclass" else 1


def _check_scores(model: Model, scores: object, rows: int) -> npt.NDArray[np.float64]:
    assert isinstance(scores, np.ndarray), f"predict must return a numpy array, got {scores!r}"
    assert scores.dtype == np.float64, f"predict must return float64, got {scores.dtype}"
    task = model.metadata.task
    shape = (rows, _outputs(model)) if task == "multiclass" else (rows,)
    assert scores.shape == shape, f"predict returned shape {scores.shape}, expected {shape}"
    assert np.isfinite(scores).all(), "predict returned NaN or infinite scores"
    if task != "regression":
        assert ((scores >= 0) & (scores <= 1)).all(), "probabilities must lie in [0, 1]"
    if task == "multiclass" and rows:
        worst = float(np.abs(scores.sum(axis=1) - 1).max())
        assert worst < 1e-6, f"class probabilities must sum to 1 per row (off by {worst:g})"
    return scores


def _check_predict(model: Model, batch: pl.DataFrame, atol: float) -> None:
    _check_scores(model, model.predict(batch), batch.height)


def _check_deterministic(model: Model, batch: pl.DataFrame, atol: float) -> None:
    first, second = model.predict(batch), model.predict(batch)
    assert np.array_equal(first, second), "two predict calls on the same batch differ"


def _check_row_order(model: Model, batch: pl.DataFrame, atol: float) -> None:
    order = np.random.default_rng(0).permutation(batch.height)
    permuted = model.predict(batch[order.tolist()])
    _assert_close(permuted, model.predict(batch)[order], "with rows permuted", atol)


def _check_single_row(model: Model, batch: pl.DataFrame, atol: float) -> None:
    full = model.predict(batch)
    for row in (0, batch.height - 1):
        single = _check_scores(model, model.predict(batch.slice(row, 1)), 1)
        _assert_close(single, full[row : row + 1], f"for row {row} scored alone", atol)


def _check_empty(model: Model, batch: pl.DataFrame, atol: float) -> None:
    empty = batch.head(0)
    _check_scores(model, model.predict(empty), 0)
    contributions = model.contributions(empty)
    d = len(model.metadata.feature_names)
    assert contributions.values.shape == (0, _outputs(model), d), (
        f"contributions of an empty batch have shape {contributions.values.shape}"
    )


def _check_nulls(model: Model, batch: pl.DataFrame, atol: float) -> None:
    rows = min(batch.height, 8)
    sample = batch.head(rows).with_row_index("_row")
    nulled = sample.with_columns(
        pl.when((pl.col("_row") + i) % 2 == 0).then(None).otherwise(pl.col(c)).alias(c)
        for i, c in enumerate(batch.columns)
    ).drop("_row")
    try:
        scores = model.predict(nulled)
    except ModelError:
        return  # refusing missing values with a clear ModelError is allowed
    except Exception as exc:
        raise AssertionError(
            f"predict on a batch with nulls raised {type(exc).__name__}: {exc}; it must score "
            "them as missing or raise doorstep.errors.ModelError"
        ) from exc
    _check_scores(model, scores, rows)


def _check_contributions(model: Model, batch: pl.DataFrame, atol: float) -> None:
    sample = batch.head(_EXPLAIN_ROWS)
    contributions = model.contributions(sample)
    assert isinstance(contributions, Contributions), "contributions must return Contributions"
    d, rows, k = len(model.metadata.feature_names), sample.height, _outputs(model)
    assert contributions.values.shape == (rows, k, d), (
        f"values have shape {contributions.values.shape}, expected {(rows, k, d)}"
    )
    assert contributions.base.shape == (rows, k), (
        f"base has shape {contributions.base.shape}, expected {(rows, k)}"
    )
    assert contributions.values.dtype == np.float64 and contributions.base.dtype == np.float64
    assert contributions.link in get_args(Link), f"unknown link {contributions.link!r}"
    expected = (
        list(sample.columns) if is_positional(model.metadata.feature_names) else None
    ) or model.metadata.feature_names
    assert contributions.feature_names in (expected, model.metadata.feature_names), (
        f"contributions name features {contributions.feature_names}, expected {expected}"
    )
    assert np.isfinite(contributions.values).all() and np.isfinite(contributions.base).all()
    assert contributions.method, "contributions must say which method computed them"
    from doorstep.explainers.additivity import check_additivity

    try:
        check_additivity(model, sample, atol=atol)
    except ExplanationError as exc:
        raise AssertionError(f"contributions are not additive: {exc}") from exc


def _assert_close(
    actual: npt.NDArray[np.float64], expected: npt.NDArray[np.float64], what: str, atol: float
) -> None:
    assert actual.shape == expected.shape, f"shape {actual.shape} != {expected.shape} {what}"
    worst = float(np.abs(actual - expected).max()) if actual.size else 0.0
    assert worst <= atol, f"predictions change {what} (by up to {worst:g})"
