"""Shared helpers: brute-force path-dependent Shapley values (Lundberg et al. 2018, Algorithm 1)."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from itertools import combinations

import numpy as np
import numpy.typing as npt
import pytest
from threadpoolctl import threadpool_limits

from doorstep.explainers.treeshap import Tree, TreeEnsemble

F64 = npt.NDArray[np.float64]


def _goes_left(tree: Tree, node: int, x: F64) -> bool:
    """Routing written independently of ``Tree.go_left``, one value at a time."""
    value = float(x[tree.feature[node]])
    missing_left = bool(tree.missing_left[node])
    if math.isnan(value):
        return missing_left
    if tree.is_categorical is not None and tree.is_categorical[node]:
        assert tree.left_categories is not None and tree.known_categories is not None
        width = tree.left_categories.shape[1]
        unknown_left = missing_left if tree.unknown_left is None else bool(tree.unknown_left[node])
        if value < 0 or value >= width:
            return unknown_left
        code = int(value)
        if tree.left_categories[node, code]:
            return True
        if tree.known_categories[node, code]:
            return False
        return unknown_left
    return value <= float(tree.threshold[node])


def _expectation(tree: Tree, node: int, x: F64, subset: frozenset[int]) -> F64:
    """Algorithm 1: features in ``subset`` follow ``x``, the others are averaged by cover."""
    left = int(tree.children_left[node])
    if left < 0:
        return np.asarray(tree.value[node], dtype=np.float64)
    right = int(tree.children_right[node])
    if int(tree.feature[node]) in subset:
        return _expectation(tree, left if _goes_left(tree, node, x) else right, x, subset)
    cover = float(tree.cover[node])
    return (
        _expectation(tree, left, x, subset) * float(tree.cover[left])
        + _expectation(tree, right, x, subset) * float(tree.cover[right])
    ) / cover


def brute_force_shap(ensemble: TreeEnsemble, X: F64) -> tuple[F64, F64]:
    """Exact Shapley values by enumerating every subset: ``(rows, outputs, d)`` and base."""
    d = ensemble.n_features
    n = X.shape[0]
    values = np.zeros((n, ensemble.n_outputs, d))
    empty = frozenset[int]()
    base = sum(
        (_expectation(t, 0, X[0], empty) for t in ensemble.trees), np.zeros(ensemble.n_outputs)
    )
    for row in range(n):
        cache: dict[frozenset[int], F64] = {}

        def v(
            subset: frozenset[int], row: int = row, cache: dict[frozenset[int], F64] = cache
        ) -> F64:
            if subset not in cache:
                cache[subset] = sum(
                    (_expectation(t, 0, X[row], subset) for t in ensemble.trees),
                    np.zeros(ensemble.n_outputs),
                )
            return cache[subset]

        for i in range(d):
            others = [j for j in range(d) if j != i]
            for size in range(d):
                weight = math.factorial(size) * math.factorial(d - size - 1) / math.factorial(d)
                for combo in combinations(others, size):
                    s = frozenset(combo)
                    values[row, :, i] += weight * (v(s | {i}) - v(s))
    return values, base


@pytest.fixture
def brute_force() -> Callable[[TreeEnsemble, F64], tuple[F64, F64]]:
    return brute_force_shap


@pytest.fixture(autouse=True)
def one_thread() -> Iterator[None]:
    """OpenMP in HistGradientBoosting spins badly on small data with few cores: fit on one."""
    with threadpool_limits(limits=1):
        yield
