"""The compiled inner loop of :mod:`~doorstep.explainers.linear_treeshap` (numba, no Python).

Every array is flat over the nodes of all trees, in each tree's pre-order; see
:class:`~doorstep.explainers.linear_treeshap.CompiledForest` for what each one holds. One call
explains a block of rows for the trees with the same number of quadrature points ``q`` (a
constant of the compiled loop, so that its loops over points unroll). The rows go through
each tree :data:`BLOCK` at a time: the walk over the nodes (the same pre-order for every row,
only the path factors differ) and each node's table row are shared by the block, which about
halves the time per row against one row per walk. The blocks are split over numba's threads.
Per row, tree and internal node: ``q`` multiplications to extend the path
polynomial, ``q`` additions to sum the leaves below and ``q`` multiply-adds to read off the
edge's Shapley value; per leaf, two multiply-adds per point with the leaf's value folded in.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from typing import Any

import numba
import numpy as np

__all__ = ["BLOCK", "EXT_ONE", "EXT_ZERO", "LEAF_PREV_ZERO", "READ_ONE", "READ_ZERO", "kernel"]

EXT_ONE, EXT_ZERO, READ_ONE, READ_ZERO, LEAF_PREV_ZERO = 0, 1, 2, 3, 4
"""Rows of the per-node table. Internal nodes: path factor (or ratio of factors) for a followed
and a not-followed edge, and the read-off weights. Leaves: the same times the leaf value
(``EXT_*``: what the leaf adds to its parent's sum; ``READ_*``: its Shapley value), and at
``LEAF_PREV_ZERO`` and ``LEAF_PREV_ZERO + 1`` both for an edge whose feature an ancestor edge
already split on and the row did not follow."""

BLOCK = 8
"""Rows walked through each tree together: they share the walk, its bookkeeping and the
table's reads (each node's table row is read once for all of them, from cache)."""


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
    R = BLOCK

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
        n = X.shape[0]
        for b in numba.prange((n + R - 1) // R):
            first = b * R
            rows = min(R, n - first)
            poly = np.empty((stack_depth, R, W))
            below = np.empty((stack_depth, R, W))
            repeat = np.empty((stack_depth, R, W))
            goes = np.zeros((stack_depth, R), dtype=np.bool_)
            follows = np.zeros((stack_depth, R), dtype=np.bool_)
            nodes = np.zeros(stack_depth, dtype=np.int64)
            for t in trees:
                output = tree_output[t]
                start, end = tree_start[t], tree_start[t + 1]
                if feature[start] < 0:
                    continue
                nodes[0] = start
                for r in range(rows):
                    for j in range(W):
                        poly[0, r, j] = 1.0
                        below[0, r, j] = 0.0
                    goes[0, r] = _goes_left(
                        start, X[first + r], feature, threshold, missing_left, category_row,
                        left_categories, known_categories, unknown_left,
                    )  # fmt: skip
                top = 0
                for node in range(start + 1, end + 1):
                    level = depth[node] if node < end else 1
                    while top >= level:  # close the internal nodes that are done, deepest first
                        done = nodes[top]
                        f = parent_feature[done]
                        above = same_above[done]
                        subtract = collects[done]
                        for r in range(rows):
                            read = READ_ONE if follows[top, r] else READ_ZERO
                            phi = 0.0
                            if subtract:
                                for j in range(W):
                                    phi += table[done, read, j] * (
                                        below[top, r, j] - repeat[top, r, j]
                                    )
                            else:
                                for j in range(W):
                                    phi += table[done, read, j] * below[top, r, j]
                            for j in range(W):
                                below[top - 1, r, j] += below[top, r, j]
                            out[first + r, output, f] += phi
                            if above >= 0:
                                for j in range(W):
                                    repeat[above, r, j] += below[top, r, j]
                        top -= 1
                    if node == end:
                        break
                    left = is_left[node]
                    above = same_above[node]
                    f = parent_feature[node]
                    if feature[node] < 0:  # a leaf: add to the parent's sum, read off its value
                        for r in range(rows):
                            o = goes[level - 1, r] == left
                            prev_zero = above >= 0 and not follows[above, r]
                            ext = LEAF_PREV_ZERO if prev_zero else EXT_ONE if o else EXT_ZERO
                            read = LEAF_PREV_ZERO + 1 if prev_zero else READ_ONE if o else READ_ZERO
                            phi = 0.0
                            for j in range(W):
                                p = poly[level - 1, r, j]
                                below[level - 1, r, j] += p * table[node, ext, j]
                                phi += p * table[node, read, j]
                            out[first + r, output, f] += phi
                            if above >= 0:
                                for j in range(W):
                                    repeat[above, r, j] += (
                                        poly[level - 1, r, j] * table[node, ext, j]
                                    )
                        continue
                    top = level
                    nodes[top] = node
                    step = z_step[node]
                    clear = collects[node]
                    for r in range(rows):
                        o = goes[level - 1, r] == left
                        if above >= 0 and not follows[above, r]:
                            follows[top, r] = False
                            for j in range(W):
                                poly[top, r, j] = poly[top - 1, r, j] * step
                        else:
                            follows[top, r] = o
                            ext = EXT_ONE if o else EXT_ZERO
                            for j in range(W):
                                poly[top, r, j] = poly[top - 1, r, j] * table[node, ext, j]
                        for j in range(W):
                            below[top, r, j] = 0.0
                        if clear:
                            for j in range(W):
                                repeat[top, r, j] = 0.0
                        goes[top, r] = _goes_left(
                            node, X[first + r], feature, threshold, missing_left, category_row,
                            left_categories, known_categories, unknown_left,
                        )  # fmt: skip

    return explain_rows
