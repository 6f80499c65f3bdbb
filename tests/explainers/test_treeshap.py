"""Exact TreeSHAP on hand-made trees: brute-force Shapley values, additivity, edge cases."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import numpy as np
import numpy.typing as npt
import pytest

from doorstep.errors import ExplanationError
from doorstep.explainers.treeshap import Tree, TreeEnsemble, tree_shap

F64 = npt.NDArray[np.float64]
BruteForce = Callable[[TreeEnsemble, F64], tuple[F64, F64]]
WIDTH = 6
Scalar = TypeVar("Scalar", bound=np.generic)


def random_tree(
    rng: np.random.Generator, d: int, depth: int, outputs: int, *, categorical: bool = True
) -> Tree:
    """A random tree with numeric and categorical splits, repeated features and NaN routing."""
    nodes: list[dict[str, object]] = []

    def grow(level: int, cover: int) -> int:
        index = len(nodes)
        node: dict[str, object] = {
            "left": -1, "right": -1, "feature": -2, "threshold": 0.0, "missing_left": False,
            "cover": float(cover), "value": rng.normal(size=outputs), "categorical": False,
            "left_set": np.zeros(WIDTH, bool), "known": np.zeros(WIDTH, bool),
        }  # fmt: skip
        nodes.append(node)
        if level < depth and cover > 1 and rng.random() < 0.9:
            node["feature"] = int(rng.integers(d))
            node["threshold"] = float(rng.normal())
            node["missing_left"] = bool(rng.random() < 0.5)
            if categorical and rng.random() < 0.4:
                node["categorical"] = True
                node["left_set"] = rng.random(WIDTH) < 0.5
                node["known"] = rng.random(WIDTH) < 0.8
            share = int(rng.integers(1, cover))
            node["left"] = grow(level + 1, share)
            node["right"] = grow(level + 1, cover - share)
        return index

    grow(0, 1000)

    def column(key: str, dtype: type[Scalar]) -> npt.NDArray[Scalar]:
        return np.array([node[key] for node in nodes], dtype=dtype)

    return Tree(
        children_left=column("left", np.intp),
        children_right=column("right", np.intp),
        feature=column("feature", np.intp),
        threshold=column("threshold", np.float64),
        missing_left=column("missing_left", np.bool_),
        cover=column("cover", np.float64),
        value=np.array([node["value"] for node in nodes]),
        is_categorical=column("categorical", np.bool_),
        left_categories=np.array([node["left_set"] for node in nodes]),
        known_categories=np.array([node["known"] for node in nodes]),
    )


def random_rows(rng: np.random.Generator, n: int, d: int) -> F64:
    X = rng.normal(size=(n, d))
    X[:, : d // 2] = rng.integers(-1, WIDTH + 2, size=(n, d // 2))  # codes, some out of range
    X[rng.random(X.shape) < 0.15] = np.nan
    return X


def route(ensemble: TreeEnsemble, X: F64) -> F64:
    """Sum of the leaf values each row reaches, walking with ``Tree.go_left``."""
    X_T = np.ascontiguousarray(X.T)
    out = np.zeros((X.shape[0], ensemble.n_outputs))
    rows = np.arange(X.shape[0])
    for tree in ensemble.trees:
        go = tree.go_left(X_T)
        node = np.zeros(X.shape[0], dtype=np.intp)
        while (inner := tree.children_left[node] >= 0).any():
            step = np.where(go[node, rows], tree.children_left[node], tree.children_right[node])
            node = np.where(inner, step, node)
        out += tree.value[node]
    return out


@pytest.mark.parametrize("seed", range(6))
def test_matches_brute_force_with_categorical_splits_and_missing_values(
    seed: int, brute_force: BruteForce
) -> None:
    rng = np.random.default_rng(seed)
    d = 5
    ensemble = TreeEnsemble(tuple(random_tree(rng, d, 4, 2) for _ in range(3)), d, 2)
    X = random_rows(rng, 8, d)
    values, base = tree_shap(ensemble, X)
    expected, expected_base = brute_force(ensemble, X)
    np.testing.assert_allclose(values, expected, rtol=0, atol=1e-10)
    np.testing.assert_allclose(base, expected_base, rtol=0, atol=1e-12)
    np.testing.assert_allclose(base + values.sum(-1), route(ensemble, X), rtol=0, atol=1e-10)


def test_paths_longer_than_the_cached_tables_match_brute_force(brute_force: BruteForce) -> None:
    rng = np.random.default_rng(7)
    d = 10
    trees = tuple(random_tree(rng, d, 11, 1, categorical=False) for _ in range(2))
    ensemble = TreeEnsemble(trees, d, 1)
    X = random_rows(rng, 3, d)
    values, base = tree_shap(ensemble, X)
    expected, _ = brute_force(ensemble, X)
    np.testing.assert_allclose(values, expected, rtol=0, atol=1e-10)


def test_many_rows_are_additive_and_repeat_calls_reuse_the_cache() -> None:
    rng = np.random.default_rng(3)
    d = 6
    ensemble = TreeEnsemble(tuple(random_tree(rng, d, 6, 1) for _ in range(4)), d, 1)
    X = random_rows(rng, 5000, d)  # more than one chunk of rows
    values, base = tree_shap(ensemble, X)
    np.testing.assert_allclose(base + values.sum(-1), route(ensemble, X), rtol=0, atol=1e-10)
    again, _ = tree_shap(ensemble, X[:7])
    np.testing.assert_array_equal(again, values[:7])


def test_a_single_leaf_tree_only_moves_the_base() -> None:
    stump = Tree(
        children_left=np.array([-1]), children_right=np.array([-1]), feature=np.array([-2]),
        threshold=np.zeros(1), missing_left=np.zeros(1, bool), cover=np.ones(1),
        value=np.array([[2.5]]),
    )  # fmt: skip
    values, base = tree_shap(TreeEnsemble((stump,), 3, 1), np.zeros((4, 3)))
    assert values.shape == (4, 1, 3) and not values.any()
    np.testing.assert_array_equal(base, [2.5])


def test_rejects_rows_with_the_wrong_number_of_features() -> None:
    rng = np.random.default_rng(0)
    ensemble = TreeEnsemble((random_tree(rng, 4, 3, 1),), 4, 1)
    with pytest.raises(ExplanationError, match="4 feature columns"):
        tree_shap(ensemble, np.zeros((2, 3)))


def test_tree_arrays_are_validated() -> None:
    with pytest.raises(ValueError, match="one entry per node"):
        Tree(
            children_left=np.array([-1]), children_right=np.array([-1, -1]),
            feature=np.array([-2]), threshold=np.zeros(1), missing_left=np.zeros(1, bool),
            cover=np.ones(1), value=np.zeros((1, 1)),
        )  # fmt: skip
