"""Reads a LightGBM booster's trees (its text model) into a :class:`TreeEnsemble`.

Node ``i < num_leaves - 1`` is LightGBM's internal node ``i``, node ``num_leaves - 1 + j`` its
leaf ``j``; covers are LightGBM's data counts (what ``pred_contrib`` weighs by). Routing follows
LightGBM's decisions exactly: numeric ``x <= threshold`` (thresholds are written with 17
significant digits, so read back exactly), NaN to the default direction for the ``NaN`` missing
type and as ``0.0`` for ``None``; categorical bitsets send the codes they hold left and every
other code, negative or NaN right. Models with the ``Zero`` missing type (``zero_as_missing``)
or linear trees are refused: :func:`supports_booster` says why.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
import numpy.typing as npt

from doorstep.errors import ExplanationError
from doorstep.explainers.treeshap import Tree, TreeEnsemble

__all__ = ["lightgbm_ensemble"]

F64 = npt.NDArray[np.float64]


def lightgbm_ensemble(booster: Any) -> TreeEnsemble:
    """The trees of a ``lightgbm.Booster``; ``ExplanationError`` if they cannot be read exactly."""
    text: str = booster.model_to_string()
    head, _, body = text.partition("\nTree=")
    header = dict(line.split("=", 1) for line in head.splitlines() if "=" in line)
    outputs = int(header.get("num_tree_per_iteration", "1"))
    n_features = int(header.get("max_feature_idx", "0")) + 1
    blocks = ("Tree=" + body).split("\nTree=") if body else []
    trees = []
    for index, block in enumerate(blocks):
        block = block.split("\nend of trees", 1)[0]
        fields = dict(line.split("=", 1) for line in block.splitlines() if "=" in line)
        trees.append(_tree(fields, index, index % outputs, outputs))
    if "average_output" in head.splitlines():
        iterations = max(1, len(trees) // outputs)
        trees = [_scaled(tree, 1.0 / iterations) for tree in trees]
    return TreeEnsemble(tuple(trees), n_features, outputs)


def _numbers(fields: dict[str, str], key: str, dtype: type[np.generic]) -> npt.NDArray[Any]:
    text = fields.get(key, "").strip()
    return np.array(text.split(" ") if text else [], dtype=dtype)


def _tree(fields: dict[str, str], index: int, output: int, outputs: int) -> Tree:
    leaves = int(fields["num_leaves"])
    if fields.get("is_linear", "0") != "0":
        raise ExplanationError(f"LightGBM tree {index} is a linear tree (linear_tree=true).")
    leaf_value = _numbers(fields, "leaf_value", np.float64)
    leaf_count = _numbers(fields, "leaf_count", np.float64)
    if leaves == 1:
        value = np.zeros((1, outputs))
        value[0, output] = leaf_value[0]
        cover = leaf_count[:1] if leaf_count.size else np.ones(1)
        none = np.full(1, -1, dtype=np.intp)
        return Tree(none, none, none, np.zeros(1), np.zeros(1, bool), cover, value)
    internal = leaves - 1
    decision = _numbers(fields, "decision_type", np.int64)
    threshold = _numbers(fields, "threshold", np.float64)
    missing_type = (decision >> 2) & 3
    if np.any(missing_type == 1):
        raise ExplanationError(
            f"LightGBM tree {index} treats zeros as missing (zero_as_missing=true)."
        )
    categorical = (decision & 1).astype(bool)
    default_left = ((decision >> 1) & 1).astype(bool)
    # missing type None: LightGBM reads NaN as 0.0
    missing_left = np.where(missing_type == 0, 0.0 <= threshold, default_left) & ~categorical

    def child(key: str) -> npt.NDArray[np.intp]:
        raw = _numbers(fields, key, np.int64)
        return np.where(raw >= 0, raw, internal + ~raw).astype(np.intp)

    n = internal + leaves
    pad = np.full(leaves, -1, dtype=np.intp)
    value = np.zeros((n, outputs))
    value[internal:, output] = leaf_value
    cover = np.concatenate([_numbers(fields, "internal_count", np.float64), leaf_count])
    extra: dict[str, npt.NDArray[np.bool_]] = {}
    if categorical.any():
        boundaries = _numbers(fields, "cat_boundaries", np.int64)
        words = _numbers(fields, "cat_threshold", np.uint32)
        width = 32 * int(np.diff(boundaries).max())
        left = np.zeros((n, width), dtype=np.bool_)
        for node in np.flatnonzero(categorical).tolist():
            slot = int(threshold[node])
            chunk = words[boundaries[slot] : boundaries[slot + 1]].astype("<u4").view(np.uint8)
            bits = np.unpackbits(chunk, bitorder="little").astype(np.bool_)
            left[node, : bits.size] = bits
        extra = {
            "is_categorical": np.concatenate([categorical, np.zeros(leaves, bool)]),
            "left_categories": left,
            "known_categories": np.ones((n, width), dtype=np.bool_),
        }
    return Tree(
        children_left=np.concatenate([child("left_child"), pad]),
        children_right=np.concatenate([child("right_child"), pad]),
        feature=np.concatenate([_numbers(fields, "split_feature", np.int64), pad]).astype(np.intp),
        threshold=np.concatenate([np.where(categorical, 0.0, threshold), np.zeros(leaves)]),
        missing_left=np.concatenate([missing_left, np.zeros(leaves, bool)]),
        cover=cover,
        value=value,
        **extra,
    )


def _scaled(tree: Tree, factor: float) -> Tree:
    return dataclasses.replace(tree, value=tree.value * factor)
