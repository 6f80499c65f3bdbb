"""The compiled inner loop of :mod:`~doorstep.explainers.linear_treeshap` (numba, no Python).

Every array is flat over the nodes of all trees, in each tree's pre-order; see
:class:`~doorstep.explainers.linear_treeshap.CompiledForest` for what each one holds. One call
explains a block of rows for the trees with the same number of quadrature points ``q`` (a
constant of the compiled loop, so that its loops over points unroll), the rows split over
numba's threads. Per row, tree and internal node: ``q`` multiplications to extend the path
polynomial, ``q`` additions to sum the leaves below and ``q`` multiply-adds to read off the
edge's Shapley value; per leaf, two multiply-adds per point with the leaf's value folded in.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from typing import Any

import numba
import numpy as np

__all__ = ["EXT_ONE", "EXT_ZERO", "LEAF_PREV_ZERO", "READ_ONE", "READ_ZERO", "kernel"]

EXT_ONE, EXT_ZERO, READ_ONE, READ_ZERO, LEAF_PREV_ZERO = 0, 1, 2, 3, 4
"""Rows of the per-node table. Internal nodes: path factor (or ratio of factors) for a followed
and a not-followed edge, and the read-off weights. Leaves: the same times the leaf value
(``EXT_*``: what the leaf adds to its parent's sum; ``READ_*``: its Shapley value), and at
``LEAF_PREV_ZERO`` and ``LEAF_PREV_ZERO + 1`` both for an edge whose feature an ancestor edge
already split on and the row did not follow."""


@numba.njit(cache=True, nogil=True, inline="always")
def _goes_left(
    node: int,
    x: Any,
    feature: Any,
    threshold: Any,
    missing_left: Any,
    category_row: Any,
    left_categories: Any,
    known_categories: Any,
    unknown_left: Any,
) -> bool:
    value = x[feature[node]]
    if np.isnan(value):
        return bool(missing_left[node])
    row = category_row[node]
    if row < 0:
        return bool(value <= threshold[node])
    if value < 0.0 or value >= left_categories.shape[1]:
        return bool(unknown_left[row])
    code = int(value)
    if left_categories[row, code]:
        return True
    if known_categories[row, code]:
        return False
    return bool(unknown_left[row])


@cache
def kernel(points: int) -> Callable[..., None]:
    """The compiled loop for trees with ``points`` quadrature points (compiled once, cached)."""
    W = points

    @numba.njit(cache=True, nogil=True, parallel=True)
    def explain_rows(
        X: Any,
        trees: Any,
        tree_start: Any,
        tree_output: Any,
        stack_depth: int,
        depth: Any,
        is_left: Any,
        collects: Any,
        parent_feature: Any,
        same_above: Any,
        z_step: Any,
        table: Any,
        feature: Any,
        threshold: Any,
        missing_left: Any,
        category_row: Any,
        left_categories: Any,
        known_categories: Any,
        unknown_left: Any,
        out: Any,
    ) -> None:
        for r in numba.prange(X.shape[0]):
            x = X[r]
            poly = np.empty((stack_depth, W))
            below = np.empty((stack_depth, W))
            repeat = np.empty((stack_depth, W))
            goes = np.zeros(stack_depth, dtype=np.bool_)
            follows = np.zeros(stack_depth, dtype=np.bool_)
            nodes = np.zeros(stack_depth, dtype=np.int64)
            for t in trees:
                target = out[r, tree_output[t]]
                start, end = tree_start[t], tree_start[t + 1]
                if feature[start] < 0:
                    continue
                for j in range(W):
                    poly[0, j] = 1.0
                    below[0, j] = 0.0
                nodes[0] = start
                goes[0] = _goes_left(
                    start, x, feature, threshold, missing_left, category_row,
                    left_categories, known_categories, unknown_left,
                )  # fmt: skip
                top = 0
                for node in range(start + 1, end + 1):
                    level = depth[node] if node < end else 1
                    while top >= level:  # close the internal nodes that are done, deepest first
                        done = nodes[top]
                        read = READ_ONE if follows[top] else READ_ZERO
                        phi = 0.0
                        if collects[done]:
                            for j in range(W):
                                phi += table[done, read, j] * (below[top, j] - repeat[top, j])
                                below[top - 1, j] += below[top, j]
                        else:
                            for j in range(W):
                                phi += table[done, read, j] * below[top, j]
                                below[top - 1, j] += below[top, j]
                        target[parent_feature[done]] += phi
                        above = same_above[done]
                        if above >= 0:
                            for j in range(W):
                                repeat[above, j] += below[top, j]
                        top -= 1
                    if node == end:
                        break
                    o = goes[level - 1] == is_left[node]
                    above = same_above[node]
                    prev_zero = above >= 0 and not follows[above]
                    if feature[node] < 0:  # a leaf: add to the parent's sum, read off its value
                        ext = LEAF_PREV_ZERO if prev_zero else EXT_ONE if o else EXT_ZERO
                        read = LEAF_PREV_ZERO + 1 if prev_zero else READ_ONE if o else READ_ZERO
                        phi = 0.0
                        for j in range(W):
                            p = poly[level - 1, j]
                            below[level - 1, j] += p * table[node, ext, j]
                            phi += p * table[node, read, j]
                        target[parent_feature[node]] += phi
                        if above >= 0:
                            for j in range(W):
                                repeat[above, j] += poly[level - 1, j] * table[node, ext, j]
                        continue
                    top = level
                    nodes[top] = node
                    if prev_zero:
                        follows[top] = False
                        step = z_step[node]
                        for j in range(W):
                            poly[top, j] = poly[top - 1, j] * step
                    else:
                        follows[top] = o
                        ext = EXT_ONE if o else EXT_ZERO
                        for j in range(W):
                            poly[top, j] = poly[top - 1, j] * table[node, ext, j]
                    for j in range(W):
                        below[top, j] = 0.0
                    if collects[node]:
                        for j in range(W):
                            repeat[top, j] = 0.0
                    goes[top] = _goes_left(
                        node, x, feature, threshold, missing_left, category_row,
                        left_categories, known_categories, unknown_left,
                    )  # fmt: skip

    return explain_rows
