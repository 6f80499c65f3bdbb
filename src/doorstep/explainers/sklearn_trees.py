"""Exact TreeSHAP for scikit-learn tree ensembles, read from the fitted estimators' own arrays.

Covered: ``DecisionTree*``, ``RandomForest*``, ``ExtraTrees*``, ``GradientBoosting*`` and
``HistGradientBoosting*``, including HistGradientBoosting's native categorical splits (the case
``shap.TreeExplainer`` gets wrong). The caller passes exactly what ``estimator.predict`` takes;
each family's own input validation runs first (float32 for the classic trees, the ordinal
encoding of ``categorical_features`` for HistGradientBoosting), so rows are routed the way the
estimator routes them.

========================= =========== ========================================================
family                    link        ``base + values.sum(-1)`` equals
========================= =========== ========================================================
tree / forest classifier  probability ``predict_proba`` (binary: the second class only)
tree / forest regressor   identity    ``predict`` (one output per target)
gradient boosting (binary) logit      ``decision_function`` (x2 for ``loss="exponential"``, so
                                      that ``sigmoid`` gives ``predict_proba``)
gradient boosting (multi) softmax     ``decision_function`` per class
gradient boosting regr.   identity    ``predict``
========================= =========== ========================================================

The init estimator of ``GradientBoosting*`` and the baseline of ``HistGradientBoosting*`` are part
of ``base``, which is therefore given per row. HistGradientBoosting regressors with a ``gamma`` or
``poisson`` loss predict ``exp(raw)``, which no supported link expresses: :func:`supports` says no.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from doorstep.core.ports import Link
from doorstep.errors import ExplanationError
from doorstep.explainers.linear_treeshap import CompiledForest, compile_forest, linear_tree_shap
from doorstep.explainers.treeshap import Tree, TreeEnsemble, tree_shap

__all__ = ["compiled_forest", "supports", "tree_contributions"]

F64 = npt.NDArray[np.float64]
Ints = npt.NDArray[np.intp]

_HGB_IDENTITY_LOSSES = {"squared_error", "absolute_error", "quantile"}


@dataclass(frozen=True)
class _Converted:
    ensemble: TreeEnsemble
    link: Link
    scale: float
    columns: Ints
    """Ensemble feature ``j`` is the caller's column ``columns[j]``."""
    prepare: Callable[[Any], tuple[F64, F64]]
    """Caller's X -> (rows in ensemble feature order, per-row offset ``(rows, outputs)``)."""
    fitted: object
    """The estimator's fitted trees this was converted from, held so that a refit (new trees)
    is told apart by identity: an ``id()`` alone may be reused once the old trees are freed."""
    compiled: list[CompiledForest] = field(default_factory=list)
    """The ensemble compiled for ``linear-treeshap`` (at most one, on first use)."""

    def forest(self) -> CompiledForest:
        if not self.compiled:
            self.compiled.append(compile_forest(self.ensemble))
        return self.compiled[0]


_CACHE: weakref.WeakKeyDictionary[Any, _Converted] = weakref.WeakKeyDictionary()


def supports(estimator: object) -> bool:
    """Whether :func:`tree_contributions` can explain this fitted estimator exactly."""
    try:
        return _kind(estimator) is not None
    except AttributeError:  # not fitted
        return False


def compiled_forest(estimator: Any) -> CompiledForest:
    """The estimator's trees compiled for ``linear-treeshap`` (once per fitted estimator)."""
    return _converted(estimator).forest()


def tree_contributions(
    estimator: Any, X: Any, *, method: Literal["linear", "treeshap"] = "linear", threads: int = 1
) -> tuple[F64, F64, Link]:
    """Exact path-dependent TreeSHAP of a fitted scikit-learn tree model.

    ``method``: ``linear`` (:func:`~doorstep.explainers.linear_treeshap.linear_tree_shap`, with
    ``threads`` threads) or ``treeshap`` (:func:`~doorstep.explainers.treeshap.tree_shap`, numpy).

    Returns ``values (rows, outputs, features)``, ``base (rows, outputs)`` (both float64) and
    the link in which ``base + values.sum(-1)`` equals the model's output (see the module table).
    ``X`` is exactly what ``estimator.predict`` takes: a numpy array or a pandas DataFrame.
    """
    converted = _converted(estimator)
    rows, offset = converted.prepare(X)
    if method == "linear":
        values, base = linear_tree_shap(converted.forest(), rows, threads=threads)
    else:
        values, base = tree_shap(converted.ensemble, rows)
    ordered = np.empty_like(values)
    ordered[:, :, converted.columns] = values
    scale = converted.scale
    return ordered * scale, (offset + base[None, :]) * scale, converted.link


def _kind(estimator: object) -> str | None:
    from sklearn.ensemble import (
        ExtraTreesClassifier,
        ExtraTreesRegressor,
        GradientBoostingClassifier,
        GradientBoostingRegressor,
        HistGradientBoostingClassifier,
        HistGradientBoostingRegressor,
        RandomForestClassifier,
        RandomForestRegressor,
    )
    from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor

    if isinstance(estimator, DecisionTreeClassifier | RandomForestClassifier):
        return "forest_classifier" if _single_output(estimator) else None
    if isinstance(estimator, ExtraTreesClassifier):
        return "forest_classifier" if _single_output(estimator) else None
    if isinstance(estimator, DecisionTreeRegressor | RandomForestRegressor | ExtraTreesRegressor):
        getattr(estimator, "n_outputs_")  # noqa: B009 - raises AttributeError if not fitted
        return "forest_regressor"
    if isinstance(estimator, GradientBoostingClassifier | GradientBoostingRegressor):
        getattr(estimator, "estimators_")  # noqa: B009
        return "gradient_boosting"
    if isinstance(estimator, HistGradientBoostingClassifier):
        getattr(estimator, "_predictors")  # noqa: B009
        return "hist_gradient_boosting"
    if isinstance(estimator, HistGradientBoostingRegressor):
        getattr(estimator, "_predictors")  # noqa: B009
        loss = getattr(estimator, "loss", "")
        return "hist_gradient_boosting" if loss in _HGB_IDENTITY_LOSSES else None
    return None


def _single_output(estimator: Any) -> bool:
    return int(estimator.n_outputs_) == 1


def _fitted(estimator: Any) -> object:
    for name in ("_predictors", "estimators_", "tree_"):
        if hasattr(estimator, name):
            return getattr(estimator, name)
    return None


def _converted(estimator: Any) -> _Converted:
    kind = _kind(estimator) if supports(estimator) else None
    if kind is None:
        raise ExplanationError(
            f"Exact TreeSHAP does not support {type(estimator).__name__} as fitted (supported: "
            "fitted single-output DecisionTree, RandomForest, ExtraTrees, GradientBoosting and "
            "HistGradientBoosting with an identity or logistic link). Set "
            "`explain.method: permutation` in the spec to use the model-agnostic fallback."
        )
    try:
        cached = _CACHE.get(estimator)
    except TypeError:  # not weak-referenceable
        cached = None
    if cached is not None and cached.fitted is _fitted(estimator):
        return cached
    convert = {
        "forest_classifier": _convert_forest,
        "forest_regressor": _convert_forest,
        "gradient_boosting": _convert_gradient_boosting,
        "hist_gradient_boosting": _convert_hist_gradient_boosting,
    }[kind]
    converted = convert(estimator)
    try:
        _CACHE[estimator] = converted
    except TypeError:
        pass
    return converted


def _tree(tree: Any, value: F64) -> Tree:
    """A generic :class:`Tree` from a ``sklearn.tree._tree.Tree``."""
    nodes = int(tree.node_count)
    missing = getattr(tree, "missing_go_to_left", np.zeros(nodes, dtype=np.uint8))
    return Tree(
        children_left=np.asarray(tree.children_left, dtype=np.intp),
        children_right=np.asarray(tree.children_right, dtype=np.intp),
        feature=np.asarray(tree.feature, dtype=np.intp),
        threshold=np.asarray(tree.threshold, dtype=np.float64),
        missing_left=np.asarray(missing, dtype=np.bool_),
        cover=np.asarray(tree.weighted_n_node_samples, dtype=np.float64),
        value=np.ascontiguousarray(value, dtype=np.float64),
    )


def _float32_rows(validate: Callable[[Any], Any]) -> Callable[[Any], F64]:
    def rows(X: Any) -> F64:
        checked = validate(X)
        if hasattr(checked, "toarray"):
            checked = checked.toarray()
        return np.asarray(checked, dtype=np.float64)

    return rows


def _convert_forest(estimator: Any) -> _Converted:
    """Decision trees and averaging forests: leaf values scaled by ``1 / n_trees``."""
    from sklearn.base import is_classifier

    if hasattr(estimator, "estimators_"):
        members = [member.tree_ for member in estimator.estimators_]
        rows = _float32_rows(estimator._validate_X_predict)
    else:
        members = [estimator.tree_]
        rows = _float32_rows(lambda X: estimator._validate_X_predict(X, check_input=True))
    classifier = is_classifier(estimator)
    trees = []
    for member in members:
        raw = np.asarray(member.value, dtype=np.float64)
        if classifier:
            totals = raw[:, 0, :].sum(axis=1, keepdims=True)
            value = np.divide(
                raw[:, 0, :], totals, out=np.zeros_like(raw[:, 0, :]), where=totals > 0
            )
            value = value[:, 1:] if value.shape[1] == 2 else value
        else:
            value = raw[:, :, 0]
        trees.append(_tree(member, value / len(members)))
    outputs = trees[0].n_outputs
    link: Link = "probability" if classifier else "identity"

    def prepare(X: Any) -> tuple[F64, F64]:
        checked = rows(X)
        return checked, np.zeros((checked.shape[0], outputs))

    d = int(estimator.n_features_in_)
    ensemble = TreeEnsemble(tuple(trees), d, outputs)
    return _Converted(ensemble, link, 1.0, np.arange(d), prepare, _fitted(estimator))


def _convert_gradient_boosting(estimator: Any) -> _Converted:
    """``GradientBoosting*``: trees scaled by the learning rate; the init estimator is base."""
    from sklearn.base import is_classifier
    from sklearn.utils.validation import validate_data

    stages = estimator.estimators_
    outputs = int(stages.shape[1])
    trees = []
    for stage in stages:
        for k, member in enumerate(stage):
            value = np.zeros((int(member.tree_.node_count), outputs))
            value[:, k] = np.asarray(member.tree_.value, dtype=np.float64)[:, 0, 0]
            trees.append(_tree(member.tree_, value * float(estimator.learning_rate)))
    link: Link = "identity"
    scale = 1.0
    if is_classifier(estimator):
        link = "logit" if outputs == 1 else "softmax"
        scale = 2.0 if getattr(estimator, "loss", "") == "exponential" else 1.0

    def prepare(X: Any) -> tuple[F64, F64]:
        checked = validate_data(
            estimator, X, dtype=np.float32, order="C", accept_sparse="csr", reset=False
        )
        offset = np.asarray(estimator._raw_predict_init(checked), dtype=np.float64)
        return _float32_rows(lambda x: x)(checked), offset.reshape(-1, outputs)

    d = int(estimator.n_features_in_)
    ensemble = TreeEnsemble(tuple(trees), d, outputs)
    return _Converted(ensemble, link, scale, np.arange(d), prepare, _fitted(estimator))


def _unpack_bitsets(bitsets: Any) -> npt.NDArray[np.bool_]:
    """``(m, 8)`` uint32 bitsets -> ``(m, 256)`` booleans (bit ``c`` = category code ``c``)."""
    words = np.ascontiguousarray(bitsets, dtype="<u4").view(np.uint8)
    return np.unpackbits(words, axis=1, bitorder="little").astype(np.bool_)


def _convert_hist_gradient_boosting(estimator: Any) -> _Converted:
    """``HistGradientBoosting*``: predictor node arrays, categorical bitsets, baseline."""
    from sklearn.base import is_classifier

    outputs = int(estimator.n_trees_per_iteration_)
    known = np.zeros((0, 256), dtype=np.bool_)
    f_idx_map = np.zeros(0, dtype=np.intp)
    if getattr(estimator._bin_mapper, "is_categorical_", None) is not None:
        known_bitsets, mapping = estimator._bin_mapper.make_known_categories_bitsets()
        known, f_idx_map = _unpack_bitsets(known_bitsets), np.asarray(mapping, dtype=np.intp)
    trees = []
    for iteration in estimator._predictors:
        for k, predictor in enumerate(iteration):
            trees.append(_hgb_tree(predictor, k, outputs, known, f_idx_map))
    link: Link = "identity"
    if is_classifier(estimator):
        link = "logit" if outputs == 1 else "softmax"
    baseline = np.asarray(estimator._baseline_prediction, dtype=np.float64).reshape(1, outputs)

    def prepare(X: Any) -> tuple[F64, F64]:
        rows = np.asarray(estimator._preprocess_X(X, reset=False), dtype=np.float64)
        return rows, np.repeat(baseline, rows.shape[0], axis=0)

    d = int(estimator.n_features_in_)
    ensemble = TreeEnsemble(tuple(trees), d, outputs)
    columns = _hgb_columns(estimator, d)
    return _Converted(ensemble, link, 1.0, columns, prepare, _fitted(estimator))


def _hgb_tree(
    predictor: Any, k: int, outputs: int, known: npt.NDArray[np.bool_], f_idx_map: Ints
) -> Tree:
    nodes = predictor.nodes
    is_leaf = nodes["is_leaf"].astype(np.bool_)
    value = np.zeros((nodes.shape[0], outputs))
    value[:, k] = np.where(is_leaf, nodes["value"], 0.0)
    feature = nodes["feature_idx"].astype(np.intp)
    is_categorical = nodes["is_categorical"].astype(np.bool_) & ~is_leaf
    categorical: dict[str, npt.NDArray[np.bool_]] = {}
    if is_categorical.any():
        left = np.zeros((nodes.shape[0], 256), dtype=np.bool_)
        routed = np.zeros_like(left)
        raw_left = _unpack_bitsets(predictor.raw_left_cat_bitsets)
        left[is_categorical] = raw_left[nodes["bitset_idx"][is_categorical].astype(np.intp)]
        routed[is_categorical] = known[f_idx_map[feature[is_categorical]]]
        categorical = {
            "is_categorical": is_categorical,
            "left_categories": left,
            "known_categories": routed,
        }
    return Tree(
        children_left=np.where(is_leaf, -1, nodes["left"].astype(np.intp)),
        children_right=np.where(is_leaf, -1, nodes["right"].astype(np.intp)),
        feature=np.where(is_leaf, -1, feature),
        threshold=nodes["num_threshold"].astype(np.float64),
        missing_left=nodes["missing_go_to_left"].astype(np.bool_),
        cover=nodes["count"].astype(np.float64),
        value=value,
        **categorical,
    )


def _hgb_columns(estimator: Any, d: int) -> Ints:
    """HistGradientBoosting's preprocessor puts categorical columns first: map them back."""
    preprocessor = getattr(estimator, "_preprocessor", None)
    if preprocessor is None:
        return np.arange(d)
    columns = np.full(d, -1, dtype=np.intp)
    for name, transformer, selection in preprocessor.transformers_:
        if isinstance(transformer, str) and transformer == "drop":
            continue
        selected = np.arange(d)[np.asarray(selection)]
        columns[preprocessor.output_indices_[name]] = selected
    if (columns < 0).any() or np.unique(columns).size != d:
        raise ExplanationError(
            f"Cannot map the internal feature order of {type(estimator).__name__} back to its "
            "input columns. Set `explain.method: permutation` in the spec."
        )
    return columns
