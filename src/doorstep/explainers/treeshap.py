"""Exact path-dependent TreeSHAP over a generic tree-ensemble representation, in numpy.

The quantity is the one of Lundberg et al. (2018), Algorithm 2, also computed by LightGBM's
``pred_contrib`` and shap's ``tree_path_dependent``: for a row ``x`` the game is
``v(S) = sum over leaves of value * prod over path features f of (o_f if f in S else z_f)``, where
``o_f`` says whether ``x`` follows the path at every node splitting on ``f`` and ``z_f`` is the
product of the cover ratios of those nodes. Its Shapley values are exact, not sampled.

How it is vectorised over rows
------------------------------
The recursion visits the same nodes for every row; only the *one fractions* differ per row, and
they are 0 or 1. Each node's split decision is computed for all rows at once (numeric threshold
with a missing direction, or categorical membership with a missing direction), and each row's
one fractions along the current path travel down the recursion as the bits of one small integer
per row: EXTEND sets a bit, UNWIND of a repeated feature removes one. The EXTEND/UNWIND path
arithmetic itself depends on the rows only through that bit pattern, so at a leaf it is run once
per pattern, vectorised over patterns and path positions, and every row gathers its pattern's
attributions. The path weights do not depend on the order of the EXTEND calls, so building them
at the leaf from the final path equals carrying them down the recursion.

For paths of at most 8 unique features the table of all ``2**L`` patterns depends on the tree
alone: it is built once per tree (two sibling leaves share one table, indexed by the parent's
pattern and decision) and cached on the ensemble, up to ``TABLE_CACHE_BYTES``. Deeper paths use
the patterns present in the batch. Cost per tree and row: one decision per internal node, one
integer OR per node, and ``L`` gathered floats per leaf pair.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from doorstep.errors import ExplanationError

__all__ = ["TABLE_CACHE_BYTES", "Tree", "TreeEnsemble", "tree_shap"]

TABLE_CACHE_BYTES = 256 * 1024 * 1024
"""Upper bound of the per-ensemble cache of leaf attribution tables."""

_FULL_TABLE_DEPTH = 8  # paths with at most this many unique features get a 2**L table
_MAX_UNIQUE_DEPTH = 60  # one-fraction patterns (plus two index bits) fit in an int64
_CHUNK_CELLS = 2_000_000  # decision-matrix cells (internal nodes x rows) per chunk of rows
_MAX_CHUNK_ROWS = 4096
_GATHER_PER_COLUMN = 512  # rows from which a take per column beats one fancy gather

F64 = npt.NDArray[np.float64]
Ints = npt.NDArray[np.intp]
Bits = npt.NDArray[Any]  # unsigned patterns: uint8 .. uint32, or int64 for deep trees


@dataclass(frozen=True, eq=False)
class Tree:
    """One binary tree, nodes indexed from the root ``0``; leaves have ``children_left < 0``.

    Routing at an internal node: a missing value (NaN) goes left iff ``missing_left``. Numeric
    nodes send ``x <= threshold`` left. Categorical nodes (``is_categorical``) read ``x`` as an
    integer code ``c``: ``left_categories[node, c]`` goes left, any other code marked in
    ``known_categories[node]`` goes right, and codes that are negative, too large or unknown go
    the missing direction (scikit-learn's HistGradientBoosting rule), or left where
    ``unknown_left`` says so (XGBoost sends every code outside its split's set left).
    """

    children_left: Ints
    children_right: Ints
    feature: Ints
    threshold: F64
    missing_left: npt.NDArray[np.bool_]
    cover: F64
    """Training sample count (or weight) reaching each node."""
    value: F64
    """Leaf values, shape ``(nodes, outputs)``; rows of internal nodes are ignored."""
    is_categorical: npt.NDArray[np.bool_] | None = None
    left_categories: npt.NDArray[np.bool_] | None = None
    """``(nodes, width)``: codes sent left by each categorical node."""
    known_categories: npt.NDArray[np.bool_] | None = None
    """``(nodes, width)``: codes a categorical node routes (left or right); others are missing."""
    unknown_left: npt.NDArray[np.bool_] | None = None
    """Where a categorical node sends codes it does not route (``None``: ``missing_left``)."""

    def __post_init__(self) -> None:
        nodes = self.children_left.shape[0]
        arrays = (self.children_right, self.feature, self.threshold, self.missing_left, self.cover)
        if any(a.shape != (nodes,) for a in arrays) or self.value.shape[:1] != (nodes,):
            raise ValueError("Tree arrays must have one entry per node; value (nodes, outputs).")
        if self.value.ndim != 2:
            raise ValueError(f"Tree value must be (nodes, outputs), got shape {self.value.shape}.")
        categorical = (self.is_categorical, self.left_categories, self.known_categories)
        if any(a is None for a in categorical) != all(a is None for a in categorical):
            raise ValueError("is_categorical, left_categories and known_categories go together.")

    @property
    def n_outputs(self) -> int:
        return int(self.value.shape[1])

    def go_left(self, X_T: F64) -> npt.NDArray[np.bool_]:
        """Decision of every node for every row, ``(nodes, rows)``, from ``X_T`` ``(d, rows)``.

        True sends the row to the left child; rows of leaves are False.
        """
        internal = np.flatnonzero(self.children_left >= 0)
        out = np.zeros((self.children_left.shape[0], X_T.shape[1]), dtype=np.bool_)
        out[internal] = self._decisions(internal, X_T, _nan_features(X_T))
        return out

    def _decisions(
        self, internal: Ints, X_T: F64, has_nan: npt.NDArray[np.bool_]
    ) -> npt.NDArray[np.bool_]:
        """Decisions of the ``internal`` nodes, ``(len(internal), rows)``, grouped by feature."""
        go = np.empty((internal.size, X_T.shape[1]), dtype=np.bool_)
        features = self.feature[internal]
        order = np.argsort(features, kind="stable")
        for rows in np.split(order, np.flatnonzero(np.diff(features[order])) + 1):
            if rows.size == 0:
                continue
            nodes = internal[rows]
            x = X_T[features[rows[0]]][None, :]
            decided = x <= self.threshold[nodes, None]
            if has_nan[features[rows[0]]]:
                decided = np.where(np.isnan(x), self.missing_left[nodes, None], decided)
            go[rows] = decided
        if self.is_categorical is not None:
            assert self.left_categories is not None and self.known_categories is not None
            rows = np.flatnonzero(self.is_categorical[internal])
            if rows.size:
                nodes = internal[rows]
                xc = X_T[features[rows]]
                in_range = (xc >= 0) & (xc < self.left_categories.shape[1])
                code = np.where(in_range, xc, 0).astype(np.intp)
                left = np.take_along_axis(self.left_categories[nodes], code, axis=1)
                known = np.take_along_axis(self.known_categories[nodes], code, axis=1)
                routed = in_range & (known | left)
                unknown = self.missing_left if self.unknown_left is None else self.unknown_left
                otherwise = np.where(
                    np.isnan(xc), self.missing_left[nodes, None], unknown[nodes, None]
                )
                go[rows] = np.where(routed, left, otherwise)
        return go


def _nan_features(X_T: F64) -> npt.NDArray[np.bool_]:
    return np.asarray(np.isnan(X_T).any(axis=1), dtype=np.bool_)


@dataclass
class _Plan:
    """What TreeSHAP needs from one tree, independent of the rows (built once, cached)."""

    internal: Ints
    row_of: list[int]
    """Node -> row of the decision matrix (-1 for leaves)."""
    children: list[tuple[int, int]]
    unwind: list[int]
    """Node -> path position of the earlier split on the same feature (-1: none)."""
    shift: Bits
    """Decision row -> unique path features above the node (the bit its decision sets)."""
    active: list[int]
    """Outputs with a non-zero leaf value."""
    twigs: dict[int, tuple[Ints, F64]]
    """Node whose children are both leaves -> (columns, table ``(active, L, patterns)``)."""
    leaves: dict[int, tuple[Ints, F64, F64 | None]]
    """Other leaves -> (columns, zero fractions, table ``(active, L, 2**L)`` or None if deep)."""
    expected: F64
    nbytes: int


@dataclass
class _PlanCache:
    plans: dict[int, _Plan] = field(default_factory=dict)
    nbytes: int = 0


@dataclass(frozen=True, eq=False)
class TreeEnsemble:
    """Trees whose outputs add up: ``model raw output = offset + sum of tree outputs``.

    Every tree's leaf values are already scaled (learning rate, ``1 / n_trees`` for averaging
    forests). Attribution tables are cached on the instance: reuse it across batches.
    """

    trees: tuple[Tree, ...]
    n_features: int
    n_outputs: int
    _cache: _PlanCache = field(default_factory=_PlanCache, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        for i, tree in enumerate(self.trees):
            if tree.n_outputs != self.n_outputs:
                raise ValueError(f"Tree {i} has {tree.n_outputs} outputs, not {self.n_outputs}.")
            used = tree.feature[tree.children_left >= 0]
            if used.size and (used.min() < 0 or used.max() >= self.n_features):
                raise ValueError(f"Tree {i} splits on a feature outside 0..{self.n_features - 1}.")


def tree_shap(ensemble: TreeEnsemble, X: npt.NDArray[np.float64]) -> tuple[F64, F64]:
    """Exact path-dependent TreeSHAP: ``(values (rows, outputs, features), base (outputs,))``.

    ``base + values.sum(-1)`` equals the sum of the trees' outputs for every row. ``X`` holds
    the rows in the ensemble's feature order (categorical features as integer codes).
    """
    X = np.asarray(X, dtype=np.float64)
    if X.ndim != 2 or X.shape[1] != ensemble.n_features:
        raise ExplanationError(
            f"TreeSHAP expected a 2-d array with {ensemble.n_features} feature columns, got "
            f"shape {X.shape}. Pass the rows in the model's own feature order."
        )
    n, d, k = X.shape[0], ensemble.n_features, ensemble.n_outputs
    plans = [_plan(ensemble, index) for index in range(len(ensemble.trees))]
    base = sum((plan.expected for plan in plans), np.zeros(k))
    values = np.zeros((n, k, d))
    widest = max((plan.internal.size for plan in plans), default=1)
    chunk = int(min(_MAX_CHUNK_ROWS, max(64, _CHUNK_CELLS // max(widest, 1))))
    for start in range(0, n, chunk):
        X_T = np.ascontiguousarray(X[start : start + chunk].T)
        has_nan = _nan_features(X_T)
        acc = np.zeros((k, d, X_T.shape[1]))
        for tree, plan in zip(ensemble.trees, plans, strict=True):
            _accumulate_tree(tree, plan, X_T, has_nan, acc)
        values[start : start + chunk] = acc.transpose(2, 0, 1)
    return values, base


def _plan(ensemble: TreeEnsemble, index: int) -> _Plan:
    cache = ensemble._cache
    plan = cache.plans.get(index)
    if plan is None:
        plan = _build_plan(ensemble.trees[index], index)
        if cache.nbytes + plan.nbytes <= TABLE_CACHE_BYTES:
            cache.plans[index] = plan
            cache.nbytes += plan.nbytes
    return plan


def _build_plan(tree: Tree, index: int) -> _Plan:
    """Walk the tree once without rows: the path bookkeeping of Algorithm 2 and leaf tables."""
    internal = np.flatnonzero(tree.children_left >= 0)
    row_of = [-1] * tree.children_left.shape[0]
    for row, node in enumerate(internal.tolist()):
        row_of[node] = row
    children = list(zip(tree.children_left.tolist(), tree.children_right.tolist(), strict=True))
    unwind = [-1] * len(row_of)
    shift = np.zeros(internal.size, dtype=np.int64)
    is_leaf = tree.children_left < 0
    active = np.flatnonzero(np.any(tree.value[is_leaf] != 0, axis=0))
    paths: dict[int, tuple[tuple[int, ...], tuple[float, ...]]] = {}
    cover, features = tree.cover.tolist(), tree.feature.tolist()
    stack: list[tuple[int, tuple[int, ...], tuple[float, ...]]] = [(0, (), ())]
    while stack:
        node, feats, zs = stack.pop()
        left, right = children[node]
        if left < 0:
            paths[node] = (feats, zs)
            continue
        f, z_in = features[node], 1.0
        if f in feats:  # UNWIND the earlier split on this feature
            k = unwind[node] = feats.index(f)
            z_in = zs[k]
            feats, zs = feats[:k] + feats[k + 1 :], zs[:k] + zs[k + 1 :]
        if len(feats) >= _MAX_UNIQUE_DEPTH:
            raise ExplanationError(
                f"TreeSHAP supports paths with at most {_MAX_UNIQUE_DEPTH} distinct features; "
                f"tree {index} has a longer one. Set `explain.method: permutation` in the spec."
            )
        shift[row_of[node]] = len(feats)
        for child in (left, right):
            z = z_in * cover[child] / cover[node] if cover[node] > 0 else 0.0
            stack.append((child, (*feats, f), (*zs, z)))
    tables: dict[int, F64] = {}
    by_length: dict[int, list[int]] = {}
    for node, (feats, _) in paths.items():
        if 0 < len(feats) <= _FULL_TABLE_DEPTH and active.size:
            by_length.setdefault(len(feats), []).append(node)
    for length, group in by_length.items():
        weights = _path_weights(np.array([paths[n][1] for n in group]), _all_patterns(length))
        scaled = tree.value[np.ix_(np.array(group), active)][:, :, None, None] * weights[:, None]
        tables.update(zip(group, scaled, strict=True))
    twigs: dict[int, tuple[Ints, F64]] = {}
    for node, (left, right) in enumerate(children):
        if left >= 0 and left in tables and right in tables:
            columns = np.array(paths[left][0], dtype=np.intp)
            twigs[node] = (columns, _twig_table(tables[left], tables[right], unwind[node] >= 0))
    in_twigs = {leaf for node in twigs for leaf in children[node]}
    leaves: dict[int, tuple[Ints, F64, F64 | None]] = {}
    for node, (feats, zs) in paths.items():
        if feats and node not in in_twigs and np.any(tree.value[node, active] != 0):
            leaves[node] = (np.array(feats, dtype=np.intp), np.array(zs), tables.get(node))
    bits = int(shift.max()) + 2 if shift.size else 1
    dtype = (
        np.uint8
        if bits <= 8
        else np.uint16
        if bits <= 16
        else np.uint32
        if bits <= 32
        else np.int64
    )
    expected = np.zeros(tree.n_outputs)
    if tree.cover[0] > 0:
        expected = (tree.value[is_leaf] * (tree.cover[is_leaf] / tree.cover[0])[:, None]).sum(0)
    nbytes = sum(t.nbytes for _, t in twigs.values()) + sum(
        t.nbytes for _, _, t in leaves.values() if t is not None
    )
    return _Plan(
        internal, row_of, children, unwind, shift.astype(dtype), active.tolist(),
        twigs, leaves, expected, nbytes,
    )  # fmt: skip


def _twig_table(left: F64, right: F64, unwinds: bool) -> F64:
    """One table for two sibling leaves, indexed by the parent's pattern and decision.

    Index bits: the parent's path pattern (after its UNWIND) below bit ``D``, the decision
    (left) at bit ``D``, and, when the parent repeats an earlier feature, whether the row
    followed that earlier split at bit ``D + 1``.
    """
    depth = left.shape[1] - 1
    index = np.arange(1 << (depth + (2 if unwinds else 1)))
    prefix, go = index & ((1 << depth) - 1), (index >> depth) & 1
    follows = (index >> (depth + 1)) & 1 if unwinds else 1
    to_left = prefix | ((follows & go) << depth)
    to_right = prefix | ((follows & (1 - go)) << depth)
    return np.ascontiguousarray(left[:, :, to_left] + right[:, :, to_right])


def _accumulate_tree(
    tree: Tree, plan: _Plan, X_T: F64, has_nan: npt.NDArray[np.bool_], acc: F64
) -> None:
    """Add one tree's attributions for the rows of ``X_T`` into ``acc`` ``(outputs, d, rows)``."""
    if not plan.leaves and not plan.twigs:
        return
    go = tree._decisions(plan.internal, X_T, has_nan).view(np.uint8).astype(plan.shift.dtype)
    to_left = go << plan.shift[:, None]
    to_right = (go ^ 1) << plan.shift[:, None]
    row_of, children, unwind, twigs = plan.row_of, plan.children, plan.unwind, plan.twigs
    shifts = plan.shift.tolist()
    scratch = np.empty(X_T.shape[1])
    stack: list[tuple[int, Bits]] = [(0, np.zeros(X_T.shape[1], dtype=plan.shift.dtype))]
    while stack:
        node, pattern = stack.pop()
        left, right = children[node]
        if left < 0:
            leaf = plan.leaves.get(node)
            if leaf is not None:
                _accumulate_leaf(tree.value[node], plan.active, leaf, pattern, acc, scratch)
            continue
        row, k = row_of[node], unwind[node]
        if k >= 0:  # UNWIND: drop bit k, remember whether the row followed that earlier split
            follows = (pattern >> k) & 1
            pattern = (pattern & ((1 << k) - 1)) | ((pattern >> (k + 1)) << k)
        twig = twigs.get(node)
        if twig is not None:
            index = pattern | to_left[row]
            if k >= 0:
                index |= follows << (shifts[row] + 1)
            _gather(plan.active, twig[0], twig[1], index.astype(np.intp), acc, scratch)
        elif k < 0:
            stack.append((left, pattern | to_left[row]))
            stack.append((right, pattern | to_right[row]))
        else:
            follows = follows << shifts[row]
            stack.append((left, pattern | (to_left[row] & follows)))
            stack.append((right, pattern | (to_right[row] & follows)))


def _gather(
    active: list[int], columns: Ints, table: F64, index: Ints, acc: F64, scratch: F64
) -> None:
    """``acc[output, column] += table[output, i, index]`` for the path's columns."""
    for position, output in enumerate(active):
        target, rows = acc[output], table[position]
        if index.size < _GATHER_PER_COLUMN:
            target[columns] += rows[:, index]
            continue
        for i, column in enumerate(columns.tolist()):
            rows[i].take(index, out=scratch, mode="clip")
            target[column] += scratch


def _accumulate_leaf(
    leaf_value: F64,
    active: list[int],
    leaf: tuple[Ints, F64, F64 | None],
    pattern: Bits,
    acc: F64,
    scratch: F64,
) -> None:
    columns, zeros, table = leaf
    if table is not None:
        _gather(active, columns, table, pattern.astype(np.intp), acc, scratch)
        return
    unique, inverse = np.unique(pattern, return_inverse=True)
    bits = (unique[None, :].astype(np.int64) >> np.arange(columns.size)[:, None]) & 1
    weights = _path_weights(zeros[None], bits.astype(np.float64))[0][:, inverse.ravel()]
    for output in active:
        acc[output][columns] += leaf_value[output] * weights


def _all_patterns(depth: int) -> F64:
    """``(depth, 2**depth)``: column ``p`` holds the bits of ``p`` (bit ``i`` = path element i)."""
    patterns = np.arange(1 << depth, dtype=np.int64)
    return ((patterns[None, :] >> np.arange(depth)[:, None]) & 1).astype(np.float64)


def _path_weights(z: F64, o: F64) -> F64:
    """Shapley weight times ``(o - z)`` of each path element, for each one-fraction pattern.

    ``z`` ``(B, L)`` holds the zero fractions of the unique path features of ``B`` leaves with
    paths of the same length, ``o`` ``(L, U)`` one fractions (0 or 1) in ``U`` patterns. Runs
    EXTEND for the root's dummy element and the ``L`` features, then ``unwound_path_sum`` for
    every element at once; returns ``(B, L, U)``, to be multiplied by the leaf value.
    """
    leaves, depth = z.shape
    count = o.shape[1]
    w = np.zeros((leaves, depth + 1, count))
    w[:, 0] = 1.0
    for length in range(1, depth + 1):  # EXTEND with element length-1; the path holds `length`
        pos = np.arange(length + 1, dtype=np.float64)[:, None]
        grown = np.zeros_like(w)
        zl = z[:, length - 1, None, None]
        grown[:, : length + 1] = zl * w[:, : length + 1] * ((length - pos) / (length + 1))
        grown[:, 1 : length + 1] += o[length - 1] * w[:, :length] * (pos[1:] / (length + 1))
        w = grown
    zc = z[:, :, None]
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        following = np.repeat(w[:, depth, None, :], depth, axis=1)
        total_one = np.zeros((leaves, depth, count))
        total_zero = np.zeros((leaves, depth, count))
        for j in range(depth - 1, -1, -1):  # unwound_path_sum for every element at once
            step = following / (j + 1)
            total_one += step
            following = w[:, j, None, :] - step * zc * (depth - j)
            total_zero += w[:, j, None, :] / (zc * (depth - j))
        total = np.where(o != 0, total_one, np.where(zc != 0, total_zero, 0.0))
    return np.asarray(total * (depth + 1) * (o - zc), dtype=np.float64)
