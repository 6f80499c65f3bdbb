"""The compiled inner loop of :mod:`~doorstep.explainers.linear_treeshap` (numba, no Python).

Every array is flat over the nodes of all trees, in each tree's pre-order; see
:class:`~doorstep.explainers.linear_treeshap.CompiledForest` for what each one holds. One call
explains a block of rows, the rows split over numba's threads, every row walking every tree
once: at each node, ``q`` multiplications to extend the path polynomial, ``q`` additions to sum
the leaves below, and ``q`` multiply-adds to read off the edge's Shapley value, where ``q`` is
the tree's number of quadrature points (half its longest path of distinct features).
"""

from __future__ import annotations

from typing import Any

import numba
import numpy as np

__all__ = ["explain_rows"]


@numba.njit(cache=True, nogil=True, inline="always")  # type: ignore[misc]
def _goes_left(
    node: int,
    x: Any,
    feature: Any,
    threshold: Any,
    missing_left: Any,
    category_row: Any,
    left_categories: Any,
    known_categories: Any,
) -> bool:
    value = x[feature[node]]
    if np.isnan(value):
        return bool(missing_left[node])
    row = category_row[node]
    if row < 0:
        return bool(value <= threshold[node])
    width = left_categories.shape[1]
    if value < 0.0 or value >= width:
        return bool(missing_left[node])
    code = int(value)
    if left_categories[row, code]:
        return True
    if known_categories[row, code]:
        return False
    return bool(missing_left[node])


@numba.njit(cache=True, nogil=True, parallel=True)  # type: ignore[misc]
def explain_rows(
    X: Any,
    tree_start: Any,
    tree_output: Any,
    tree_points: Any,
    tree_depth: Any,
    depth: Any,
    is_left: Any,
    parent_feature: Any,
    same_above: Any,
    z_step: Any,
    extend_one: Any,
    extend_zero: Any,
    read_one: Any,
    read_zero: Any,
    leaf_value: Any,
    feature: Any,
    threshold: Any,
    missing_left: Any,
    category_row: Any,
    left_categories: Any,
    known_categories: Any,
    out: Any,
) -> None:
    """Add every tree's Shapley values of every row of ``X`` into ``out`` ``(rows, outputs, d)``."""
    rows = X.shape[0]
    width = extend_one.shape[1]
    stack_depth = tree_depth.max() + 2
    for r in numba.prange(rows):
        x = X[r]
        poly = np.empty((stack_depth, width))
        below = np.empty((stack_depth, width))
        repeat = np.empty((stack_depth, width))
        goes = np.zeros(stack_depth, dtype=np.bool_)
        follows = np.zeros(stack_depth, dtype=np.bool_)
        nodes = np.zeros(stack_depth, dtype=np.int64)
        for t in range(tree_start.shape[0] - 1):
            q = tree_points[t]
            target = out[r, tree_output[t]]
            start, end = tree_start[t], tree_start[t + 1]
            for j in range(q):
                poly[0, j] = 1.0
                below[0, j] = 0.0
            nodes[0] = start
            if feature[start] >= 0:
                goes[0] = _goes_left(
                    start, x, feature, threshold, missing_left, category_row,
                    left_categories, known_categories,
                )  # fmt: skip
            top = 0
            for node in range(start + 1, end + 1):
                level = depth[node] if node < end else 1
                while top >= level:  # close the nodes that are done, deepest first
                    done = nodes[top]
                    if feature[done] < 0:
                        v = leaf_value[done]
                        for j in range(q):
                            below[top, j] = v * poly[top, j]
                    read = read_one if follows[top] else read_zero
                    phi = 0.0
                    for j in range(q):
                        phi += read[done, j] * (below[top, j] - repeat[top, j])
                    target[parent_feature[done]] += phi
                    for j in range(q):
                        below[top - 1, j] += below[top, j]
                    above = same_above[done]
                    if above >= 0:
                        for j in range(q):
                            repeat[above, j] += below[top, j]
                    top -= 1
                if node == end:
                    break
                top = level
                nodes[top] = node
                o = goes[top - 1] == is_left[node]
                above = same_above[node]
                if above >= 0 and not follows[above]:
                    follows[top] = False
                    step = z_step[node]
                    for j in range(q):
                        poly[top, j] = poly[top - 1, j] * step
                else:
                    follows[top] = o
                    extend = extend_one if o else extend_zero
                    for j in range(q):
                        poly[top, j] = poly[top - 1, j] * extend[node, j]
                for j in range(q):
                    below[top, j] = 0.0
                    repeat[top, j] = 0.0
                if feature[node] >= 0:
                    goes[top] = _goes_left(
                        node, x, feature, threshold, missing_left, category_row,
                        left_categories, known_categories,
                    )  # fmt: skip
