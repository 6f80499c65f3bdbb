"""linear-treeshap against brute-force Shapley values on generated ensembles, and edge cases."""

from __future__ import annotations

import dataclasses

import numpy as np
import numpy.typing as npt
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tests.explainers.conftest import brute_force_shap
from tests.explainers.test_treeshap import WIDTH, random_rows, random_tree, route

from doorstep.errors import ExplanationError
from doorstep.explainers.linear_treeshap import compile_forest, linear_tree_shap
from doorstep.explainers.treeshap import Tree, TreeEnsemble, tree_shap

F64 = npt.NDArray[np.float64]


def deep_tree(
    rng: np.random.Generator, d: int, depth: int, outputs: int, split: float, categorical: bool
) -> Tree:
    """A tree with one path of exactly ``depth`` splits and bushy parts elsewhere."""
    left: list[int] = []
    right: list[int] = []
    feature: list[int] = []
    threshold: list[float] = []
    missing: list[bool] = []
    cover: list[float] = []
    is_cat: list[bool] = []
    left_set: list[npt.NDArray[np.bool_]] = []
    known: list[npt.NDArray[np.bool_]] = []
    unknown: list[bool] = []

    def grow(level: int, weight: float, spine: bool) -> int:
        index = len(left)
        for column in (left, right, feature):
            column.append(-1)
        threshold.append(float(rng.normal()))
        missing.append(bool(rng.random() < 0.5))
        cover.append(weight)  # zero for a leaf no training row reached: its zero fraction is 0
        is_cat.append(False)
        left_set.append(rng.random(WIDTH) < 0.5)
        known.append(rng.random(WIDTH) < 0.8)
        unknown.append(bool(rng.random() < 0.5))
        if level < depth and weight > 0 and (spine or rng.random() < split):
            feature[index] = int(rng.integers(d))
            is_cat[index] = categorical and bool(rng.random() < 0.4)
            share = float(rng.choice([0.0, rng.random(), 1.0], p=[0.05, 0.9, 0.05]))
            go_left = bool(rng.random() < 0.5) if 0 < share < 1 else share == 1
            left[index] = grow(level + 1, weight * share, spine and go_left)
            right[index] = grow(level + 1, weight * (1 - share), spine and not go_left)
        return index

    grow(0, 1000.0, True)
    return Tree(
        children_left=np.array(left, dtype=np.intp),
        children_right=np.array(right, dtype=np.intp),
        feature=np.array(feature, dtype=np.intp),
        threshold=np.array(threshold),
        missing_left=np.array(missing, dtype=np.bool_),
        cover=np.array(cover),
        value=rng.normal(size=(len(left), outputs)),
        is_categorical=np.array(is_cat, dtype=np.bool_),
        left_categories=np.array(left_set),
        known_categories=np.array(known),
        unknown_left=np.array(unknown, dtype=np.bool_),
    )


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(0, 2**32 - 1),
    d=st.integers(1, 4),
    depth=st.integers(1, 12),
    trees=st.integers(1, 3),
    outputs=st.integers(1, 2),
    split=st.floats(0.0, 0.7),
    categorical=st.booleans(),
)
def test_equals_brute_force_shapley_values(
    seed: int, d: int, depth: int, trees: int, outputs: int, split: float, categorical: bool
) -> None:
    rng = np.random.default_rng(seed)
    ensemble = TreeEnsemble(
        tuple(deep_tree(rng, d, depth, outputs, split, categorical) for _ in range(trees)),
        d,
        outputs,
    )
    X = random_rows(rng, 6, d) if d > 1 else rng.integers(-1, WIDTH + 1, (6, 1)).astype(float)
    X[rng.random(X.shape) < 0.2] = np.nan
    values, base = linear_tree_shap(compile_forest(ensemble), X)
    expected, expected_base = brute_force_shap(ensemble, X)
    np.testing.assert_allclose(values, expected, rtol=0, atol=1e-9)
    np.testing.assert_allclose(base, expected_base, rtol=0, atol=1e-9)
    np.testing.assert_allclose(base + values.sum(-1), route(ensemble, X), rtol=0, atol=1e-9)


def test_equals_the_numpy_treeshap_on_many_rows_with_two_threads() -> None:
    rng = np.random.default_rng(11)
    d = 12
    ensemble = TreeEnsemble(tuple(random_tree(rng, d, 9, 3) for _ in range(6)), d, 3)
    X = random_rows(rng, 5000, d)  # more than one block of rows
    forest = compile_forest(ensemble)
    values, base = linear_tree_shap(forest, X, threads=2)
    expected, expected_base = tree_shap(ensemble, X)
    np.testing.assert_allclose(values, expected, rtol=0, atol=1e-9)
    np.testing.assert_allclose(base, expected_base, rtol=0, atol=1e-12)
    one, _ = linear_tree_shap(forest, X[:9], threads=1)
    np.testing.assert_allclose(one, values[:9], rtol=0, atol=1e-12)


def test_a_forest_of_single_leaves_only_moves_the_base() -> None:
    stump = Tree(
        children_left=np.array([-1]), children_right=np.array([-1]), feature=np.array([-2]),
        threshold=np.zeros(1), missing_left=np.zeros(1, bool), cover=np.ones(1),
        value=np.array([[2.5]]),
    )  # fmt: skip
    forest = compile_forest(TreeEnsemble((stump, stump), 3, 1))
    values, base = linear_tree_shap(forest, np.zeros((4, 3)))
    assert values.shape == (4, 1, 3) and not values.any()
    np.testing.assert_array_equal(base, [5.0])


def test_outputs_without_leaf_values_cost_nothing_and_stay_zero() -> None:
    rng = np.random.default_rng(2)
    tree = random_tree(rng, 4, 5, 3)
    value = tree.value.copy()
    value[:, 1] = 0.0
    ensemble = TreeEnsemble((dataclasses.replace(tree, value=value),), 4, 3)
    forest = compile_forest(ensemble)
    assert sorted(forest.tree_output.tolist()) == [0, 2]
    values, _ = linear_tree_shap(forest, random_rows(rng, 5, 4))
    assert not values[:, 1].any() and values[:, 0].any()


def test_reports_its_size_and_time() -> None:
    rng = np.random.default_rng(4)
    forest = compile_forest(TreeEnsemble(tuple(random_tree(rng, 5, 6, 1) for _ in range(3)), 5, 1))
    assert forest.nbytes >= forest.table.nbytes > 0
    assert forest.seconds > 0


def test_rejects_rows_with_the_wrong_number_of_features() -> None:
    rng = np.random.default_rng(0)
    forest = compile_forest(TreeEnsemble((random_tree(rng, 4, 3, 1),), 4, 1))
    with pytest.raises(ExplanationError, match="4 feature columns"):
        linear_tree_shap(forest, np.zeros((2, 3)))
