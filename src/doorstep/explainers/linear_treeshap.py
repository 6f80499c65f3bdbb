"""Exact path-dependent TreeSHAP in O(nodes x depth) per tree and row, compiled with numba.

The quantity is the one of :mod:`~doorstep.explainers.treeshap` (Lundberg et al. 2018,
Algorithm 2; LightGBM's ``pred_contrib``, XGBoost's ``pred_contribs``). For one leaf ``v`` with
value ``c``, distinct path features ``P`` (``|P| = L``), zero fractions ``z_f`` (products of the
cover ratios of the edges splitting on ``f``) and one fractions ``o_f`` (1 if the row follows
every such edge, else 0), the Shapley value of ``i`` in ``P`` is

    c (o_i - z_i) sum_{S subset of P - i} |S|! (L - 1 - |S|)! / L! prod_S o_f prod_{P - S - i} z_f

and since ``|S|! (L-1-|S|)! / L! = integral_0^1 t^|S| (1 - t)^(L-1-|S|) dt`` this is

    c (o_i - z_i) integral_0^1 prod_{f in P - i} (o_f t + z_f (1 - t)) dt,

the integral of a polynomial of degree ``L - 1``: Gauss-Legendre quadrature with ``ceil(L / 2)``
points computes it exactly (up to rounding), from positive weights and factors in ``[0, 1]``,
so it is numerically as stable as the sum it replaces. The same identity underlies Linear
TreeSHAP (Bifet et al., NeurIPS 2022), which evaluates the path polynomials at other points.

Per tree and row: walk the tree once; at every node keep the path product ``prod (o t + z (1-t))``
at the quadrature points (one multiplication per point: a factor for a new feature, a ratio of
factors for a repeated one), sum ``c * product`` over the leaves below each node on the way back
up, and at each edge read off ``(o - z) * sum_j w_j * sum_j / factor_j`` for the edge's feature,
for the leaves below it that have no deeper split on that feature (their sums are subtracted).
Everything that depends on the tree alone (factors, ratios and read-off weights, for a followed
and a not-followed edge) is computed once at load by :func:`compile_forest`; a row only decides,
at every internal node, which of the two to use. Cost: ``O(nodes x q)`` per tree and row with
``q = ceil(L_max / 2)``, against ``O(leaves x L_max**2)`` for Algorithm 2.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, fields

import numba
import numpy as np
import numpy.typing as npt

from doorstep.errors import ExplanationError
from doorstep.explainers.shapley_kernel import (
    EXT_ONE,
    EXT_ZERO,
    LEAF_PREV_ZERO,
    READ_ONE,
    READ_ZERO,
    kernel,
)
from doorstep.explainers.treeshap import TreeEnsemble

__all__ = ["CompiledForest", "compile_forest", "linear_tree_shap"]

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]
Bools = npt.NDArray[np.bool_]

_BLOCK_ROWS = 4096  # rows per kernel call: bounds the (rows, outputs, d) block kept hot


@dataclass(frozen=True, eq=False)
class CompiledForest:
    """A tree ensemble laid out for :func:`linear_tree_shap`: flat arrays over all nodes.

    Trees with several non-zero outputs are split into one tree per output. Nodes are in each
    tree's pre-order; ``depth`` is the node's depth in its tree, ``same_above`` the depth of the
    nearest ancestor node whose edge (into it) splits on the same feature as the node's own edge
    (``-1``: none). ``table`` ``(nodes, 6, q_max)`` holds the per-point factors (or ratios of
    factors) and read-off weights for a followed and a not-followed edge, with the leaf value
    folded in at leaves (rows named in :mod:`~doorstep.explainers.shapley_kernel`); ``z_step``
    is the cover ratio of the node's edge.
    """

    n_features: int
    n_outputs: int
    base: F64
    tree_start: I64
    tree_output: I64
    tree_points: I64
    tree_depth: I64
    depth: I64
    is_left: Bools
    collects: Bools
    """Internal nodes with a deeper split on their edge's feature below them."""
    parent_feature: I64
    same_above: I64
    z_step: F64
    table: F64
    feature: I64
    threshold: F64
    missing_left: Bools
    category_row: I64
    left_categories: Bools
    known_categories: Bools
    unknown_left: Bools
    """Per categorical row: where codes outside the node's known set go."""
    seconds: float
    """Wall time of :func:`compile_forest` (numba's start-up excluded)."""
    startup_seconds: float
    """numba loading its cached machine code for these trees (first use in a process only)."""
    groups: tuple[tuple[int, I64], ...] = ()
    """Trees by number of quadrature points: ``(points, tree indices)``."""

    @property
    def nbytes(self) -> int:
        """Bytes held by the arrays."""
        return sum(
            value.nbytes
            for value in (getattr(self, f.name) for f in fields(self))
            if isinstance(value, np.ndarray)
        )


def compile_forest(ensemble: TreeEnsemble) -> CompiledForest:
    """Precompute everything :func:`linear_tree_shap` needs from the trees alone."""
    startup = _start_numba()
    started = time.perf_counter()
    parts: dict[str, list[npt.NDArray[np.generic]]] = {}
    tree_output: list[int] = []
    offsets = [0]
    cat_left: list[Bools] = []
    cat_known: list[Bools] = []
    cat_unknown: list[Bools] = []
    base = np.zeros(ensemble.n_outputs)
    for tree in ensemble.trees:
        nodes = tree.children_left.shape[0]
        walk = _walk(
            np.asarray(tree.children_left, np.int64),
            np.asarray(tree.children_right, np.int64),
            np.asarray(tree.feature, np.int64),
            np.asarray(tree.cover, np.float64),
        )
        order, depth, is_left, parent_feature, same_above, z_step, z_comb, z_prev, reach = walk[:9]
        collects = walk[9]
        is_leaf = tree.children_left[order] < 0
        category_row = np.full(nodes, -1, dtype=np.int64)
        if tree.is_categorical is not None:
            assert tree.left_categories is not None and tree.known_categories is not None
            categorical = np.flatnonzero(tree.is_categorical[order] & ~is_leaf)
            first = sum(c.shape[0] for c in cat_left)
            category_row[categorical] = first + np.arange(categorical.size)
            cat_left.append(tree.left_categories[order][categorical])
            cat_known.append(tree.known_categories[order][categorical])
            unknown = tree.missing_left if tree.unknown_left is None else tree.unknown_left
            cat_unknown.append(np.asarray(unknown, np.bool_)[order][categorical])
        unique = int(walk[10])
        values = tree.value[order]
        base += (values[is_leaf] * reach[is_leaf, None]).sum(axis=0)
        for output in np.flatnonzero(np.any(values[is_leaf] != 0, axis=0)).tolist():
            tree_output.append(output)
            offsets.append(offsets[-1] + nodes)
            leaf = np.where(is_leaf, values[:, output], 0.0)
            feature = np.where(is_leaf, -1, tree.feature[order]).astype(np.int64)
            for name, array in (
                ("depth", depth), ("is_left", is_left), ("collects", collects),
                ("parent_feature", parent_feature),
                ("same_above", same_above), ("z_step", z_step), ("z_comb", z_comb),
                ("z_prev", z_prev), ("leaf_value", leaf), ("feature", feature),
                ("threshold", np.asarray(tree.threshold, np.float64)[order]),
                ("missing_left", np.asarray(tree.missing_left, np.bool_)[order]),
                ("category_row", category_row), ("points", np.full(nodes, max(1, -(-unique // 2)))),
                ("tree_depth", np.array([depth.max(initial=0)])),
            ):  # fmt: skip
                parts.setdefault(name, []).append(array)
    if not tree_output:
        return _empty(ensemble, base, time.perf_counter() - started, startup)
    flat = {name: np.concatenate(arrays) for name, arrays in parts.items()}
    tree_points = flat["points"][np.array(offsets[:-1])]
    table = _tables(
        flat["points"], flat["z_comb"], flat["z_prev"], flat["same_above"] >= 0,
        flat["z_step"], flat["leaf_value"], flat["feature"] < 0,
    )  # fmt: skip
    width = max((c.shape[1] for c in cat_left), default=1)
    groups = tuple(
        (int(q), np.flatnonzero(tree_points == q).astype(np.int64)) for q in np.unique(tree_points)
    )
    seconds = time.perf_counter() - started
    startup += _start_kernels([q for q, _ in groups])
    return CompiledForest(
        n_features=ensemble.n_features,
        n_outputs=ensemble.n_outputs,
        base=base,
        tree_start=np.array(offsets, dtype=np.int64),
        tree_output=np.array(tree_output, dtype=np.int64),
        tree_points=tree_points.astype(np.int64),
        tree_depth=flat["tree_depth"].astype(np.int64),
        depth=flat["depth"],
        is_left=flat["is_left"].astype(np.bool_),
        collects=flat["collects"].astype(np.bool_),
        parent_feature=flat["parent_feature"],
        same_above=flat["same_above"],
        z_step=flat["z_step"],
        table=table,
        feature=flat["feature"],
        threshold=flat["threshold"],
        missing_left=flat["missing_left"].astype(np.bool_),
        category_row=flat["category_row"],
        left_categories=_stack(cat_left, width),
        known_categories=_stack(cat_known, width),
        unknown_left=np.concatenate(cat_unknown) if cat_unknown else np.zeros(1, np.bool_),
        seconds=seconds,
        startup_seconds=startup,
        groups=groups,
    )


def linear_tree_shap(forest: CompiledForest, X: F64, *, threads: int = 1) -> tuple[F64, F64]:
    """Exact path-dependent TreeSHAP: ``(values (rows, outputs, features), base (outputs,))``.

    Same contract as :func:`~doorstep.explainers.treeshap.tree_shap`: ``X`` holds the rows in
    the ensemble's feature order, categorical features as integer codes, NaN for missing.
    ``threads`` numba threads share the rows.
    """
    X = np.ascontiguousarray(X, dtype=np.float64)
    if X.ndim != 2 or X.shape[1] != forest.n_features:
        raise ExplanationError(
            f"TreeSHAP expected a 2-d array with {forest.n_features} feature columns, got "
            f"shape {X.shape}. Pass the rows in the model's own feature order."
        )
    values = np.zeros((X.shape[0], forest.n_outputs, forest.n_features))
    if forest.tree_output.size == 0 or X.shape[0] == 0:
        return values, forest.base.copy()
    previous = numba.get_num_threads()
    available = int(numba.config.NUMBA_NUM_THREADS)  # type: ignore[attr-defined]
    numba.set_num_threads(max(1, min(threads, available)))
    try:
        stack_depth = int(forest.tree_depth.max()) + 2
        for start in range(0, X.shape[0], _BLOCK_ROWS):
            stop = start + _BLOCK_ROWS
            for q, trees in forest.groups:
                kernel(q)(
                    X[start:stop], trees, forest.tree_start, forest.tree_output, stack_depth,
                    forest.depth, forest.is_left, forest.collects, forest.parent_feature,
                    forest.same_above,
                    forest.z_step, forest.table, forest.feature, forest.threshold,
                    forest.missing_left, forest.category_row, forest.left_categories,
                    forest.known_categories, forest.unknown_left, values[start:stop],
                )  # fmt: skip
    finally:
        numba.set_num_threads(previous)
    return values, forest.base.copy()


@numba.njit(cache=True)
def _walk(
    left: I64, right: I64, feature: I64, cover: F64
) -> tuple[I64, I64, Bools, I64, I64, F64, F64, F64, F64, Bools, int]:
    """Pre-order of one tree and, per node (in that order), its edge's path bookkeeping."""
    n = left.shape[0]
    order = np.empty(n, np.int64)
    depth = np.zeros(n, np.int64)
    is_left = np.zeros(n, np.bool_)
    parent_feature = np.full(n, -1, np.int64)
    same_above = np.full(n, -1, np.int64)
    z_step = np.ones(n)
    z_comb = np.ones(n)
    z_prev = np.ones(n)
    reach = np.ones(n)
    collects = np.zeros(n, np.bool_)
    unique = np.zeros(n, np.int64)  # distinct features on the path to each node
    path_node = np.zeros(n + 1, np.int64)  # position (in order) of the node at each depth
    stack = np.empty(n + 1, np.int64)
    stack_depth = np.empty(n + 1, np.int64)
    stack[0], stack_depth[0], top, position = 0, 0, 1, 0
    at = np.empty(n, np.int64)
    while top > 0:
        top -= 1
        node, d = stack[top], stack_depth[top]
        order[position], depth[position], at[node] = node, d, position
        path_node[d] = position
        if d > 0:
            parent = order[path_node[d - 1]]
            p = path_node[d - 1]
            is_left[position] = left[parent] == node
            f = feature[parent]
            parent_feature[position] = f
            z = cover[node] / cover[parent] if cover[parent] > 0 else 0.0
            z_step[position], reach[position] = z, reach[p] * z
            z_comb[position] = z
            unique[position] = unique[p] + 1
            for up in range(d - 1, 0, -1):
                if parent_feature[path_node[up]] == f:
                    same_above[position] = up
                    collects[path_node[up]] = True
                    unique[position] -= 1
                    z_prev[position] = z_comb[path_node[up]]
                    z_comb[position] = z * z_prev[position]
                    break
        position += 1
        if left[node] >= 0:
            stack[top], stack_depth[top] = right[node], d + 1
            stack[top + 1], stack_depth[top + 1] = left[node], d + 1
            top += 2
    return (
        order, depth, is_left, parent_feature, same_above, z_step, z_comb, z_prev, reach, collects,
        unique.max(),
    )  # fmt: skip


_STARTED: set[int] = set()


def _start_numba() -> float:
    """Load the tree walk's machine code (once per process); the seconds it took."""
    if -1 in _STARTED:
        return 0.0
    started = time.perf_counter()
    leaf = np.full(1, -1, np.int64)
    _walk(leaf, leaf, leaf, np.ones(1))
    _STARTED.add(-1)
    return time.perf_counter() - started


def _start_kernels(points: list[int]) -> float:
    """Load the compiled loops for these widths (once per process each); the seconds it took."""
    started = time.perf_counter()
    for q in points:
        if q in _STARTED:
            continue
        one, i1, f1 = np.zeros(1, np.int64), np.full(1, -1, np.int64), np.zeros((1, 6, q))
        kernel(q)(
            np.zeros((1, 1)), np.zeros(0, np.int64), np.zeros(2, np.int64), one, 2, one,
            np.zeros(1, np.bool_), np.zeros(1, np.bool_), i1, i1, np.ones(1), f1, i1,
            np.zeros(1), np.zeros(1, np.bool_), i1, np.zeros((1, 1), np.bool_),
            np.zeros((1, 1), np.bool_), np.zeros(1, np.bool_), np.zeros((1, 1, 1)),
        )  # fmt: skip
        _STARTED.add(q)
    return time.perf_counter() - started


def _tables(
    points: I64, z: F64, z_prev: F64, repeated: Bools, z_step: F64, leaf_value: F64, leaf: Bools
) -> F64:
    """Per node and quadrature point: path factors (or ratios) and read-off weights."""
    width = int(points.max())
    t = np.zeros((points.size, width))
    w = np.zeros((points.size, width))
    for q in np.unique(points).tolist():
        x, weight = np.polynomial.legendre.leggauss(q)
        rows = points == q
        t[rows, :q] = (x + 1.0) / 2.0
        w[rows, :q] = weight / 2.0
    zc, zp = z[:, None], z_prev[:, None]
    one = t + zc * (1.0 - t)
    zero = zc * (1.0 - t)
    previous = np.where(repeated[:, None], t + zp * (1.0 - t), 1.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        read_one = np.where(one > 0, w * (1.0 - zc) / one, 0.0)
        read_zero = np.where(zero > 0, -w * zc / zero, 0.0)
    table = np.zeros((points.size, 6, width))
    table[:, EXT_ONE], table[:, EXT_ZERO] = one / previous, zero / previous
    table[:, READ_ONE], table[:, READ_ZERO] = read_one, read_zero
    v, step = leaf_value[leaf, None], z_step[leaf, None]
    leaves = table[leaf]
    leaves[:, READ_ONE] *= leaves[:, EXT_ONE] * v
    leaves[:, READ_ZERO] *= leaves[:, EXT_ZERO] * v
    leaves[:, EXT_ONE] *= v
    leaves[:, EXT_ZERO] *= v
    leaves[:, LEAF_PREV_ZERO] = v * step
    leaves[:, LEAF_PREV_ZERO + 1] = v * step * read_zero[leaf]
    table[leaf] = leaves
    return table


def _stack(blocks: list[Bools], width: int) -> Bools:
    out = np.zeros((sum(b.shape[0] for b in blocks) or 1, width), dtype=np.bool_)
    row = 0
    for block in blocks:
        out[row : row + block.shape[0], : block.shape[1]] = block
        row += block.shape[0]
    return out


def _empty(ensemble: TreeEnsemble, base: F64, seconds: float, startup: float) -> CompiledForest:
    i0, f0, b0 = np.zeros(0, np.int64), np.zeros(0), np.zeros(0, np.bool_)
    return CompiledForest(
        ensemble.n_features, ensemble.n_outputs, base, np.zeros(1, np.int64), i0, i0, i0, i0,
        b0, b0, i0, i0, f0, np.zeros((0, 6, 1)), i0, f0, b0, i0, np.zeros((1, 1), np.bool_),
        np.zeros((1, 1), np.bool_), np.zeros(1, np.bool_), seconds, startup,
    )  # fmt: skip
