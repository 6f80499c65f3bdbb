"""Reads an XGBoost booster's trees (its JSON model) into a :class:`TreeEnsemble`.

Covers are XGBoost's hessian sums (what ``pred_contribs`` weighs by), leaf values are already
scaled by the learning rate. XGBoost routes in float32: a row goes left when
``float32(x) < split_condition``; the thresholds here are the next float32 below, so that the
generic rule ``x <= threshold`` routes rows that were rounded to float32 (as
:func:`float32_rows` does) exactly as XGBoost does. Categorical splits send the listed
categories right and every other code left (negative and unseen codes too); NaN takes the
default direction. Only ``gbtree`` boosters with scalar leaves are read: ``dart`` (dropout
weights) and multi-output trees are refused.
"""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np
import numpy.typing as npt

from doorstep.errors import ExplanationError
from doorstep.explainers.treeshap import Tree, TreeEnsemble

__all__ = ["base_margin", "float32_rows", "xgboost_ensemble"]

F64 = npt.NDArray[np.float64]
_LOGIT_BASE = ("binary:logistic", "binary:logitraw", "reg:logistic")


def xgboost_ensemble(booster: Any) -> tuple[TreeEnsemble, F64]:
    """The trees of an ``xgboost.Booster`` and its base margin per output."""
    learner = json.loads(bytes(booster.save_raw(raw_format="json")))["learner"]
    gradient_booster = learner["gradient_booster"]
    if gradient_booster.get("name") != "gbtree":
        raise ExplanationError(
            f"XGBoost booster {gradient_booster.get('name')!r} is not a plain gbtree."
        )
    model = gradient_booster["model"]
    params = learner["learner_model_param"]
    outputs = max(1, int(params.get("num_class", "0")), int(params.get("num_target", "1")))
    n_features = int(params["num_feature"])
    trees = []
    for index, (raw, group) in enumerate(zip(model["trees"], model["tree_info"], strict=True)):
        if int(raw["tree_param"].get("size_leaf_vector", "1")) > 1:
            raise ExplanationError(f"XGBoost tree {index} has vector leaves (multi_strategy).")
        trees.append(_tree(raw, int(group), outputs))
    ensemble = TreeEnsemble(tuple(trees), n_features, outputs)
    return ensemble, base_margin(params, str(learner["objective"]["name"]), outputs)


def base_margin(params: dict[str, Any], objective: str, outputs: int) -> F64:
    """``base_score`` in margin space (the logit of a probability for logistic objectives)."""
    text = str(params.get("base_score", "0.5")).strip("[]")
    values = np.array([float(v) for v in text.split(",") if v.strip()] or [0.5], dtype=np.float32)
    score = np.broadcast_to(values.astype(np.float64), (outputs,)).copy()
    if objective in _LOGIT_BASE:
        score = np.array([math.log(p / (1.0 - p)) for p in score])
    return np.asarray(score.astype(np.float32), dtype=np.float64)


def float32_rows(matrix: F64) -> F64:
    """Rows rounded to float32, as XGBoost reads them."""
    return np.asarray(np.asarray(matrix, dtype=np.float32), dtype=np.float64)


def _tree(raw: dict[str, Any], output: int, outputs: int) -> Tree:
    left = np.asarray(raw["left_children"], dtype=np.intp)
    right = np.asarray(raw["right_children"], dtype=np.intp)
    n = left.shape[0]
    is_leaf = left < 0
    conditions = np.asarray(raw["split_conditions"], dtype=np.float32)
    below = np.nextafter(conditions, np.float32(-np.inf)).astype(np.float64)
    value = np.zeros((n, outputs))
    value[is_leaf, output] = conditions[is_leaf].astype(np.float64)
    feature = np.where(is_leaf, -1, np.asarray(raw["split_indices"], dtype=np.intp))
    extra: dict[str, npt.NDArray[np.bool_]] = {}
    split_type = np.asarray(raw.get("split_type", [0] * n), dtype=np.int64)
    categorical = (split_type == 1) & ~is_leaf
    if categorical.any():
        categories = np.asarray(raw["categories"], dtype=np.int64)
        nodes = np.asarray(raw["categories_nodes"], dtype=np.intp)
        segments = np.asarray(raw["categories_segments"], dtype=np.intp)
        sizes = np.asarray(raw["categories_sizes"], dtype=np.intp)
        width = int(categories.max(initial=-1)) + 1
        width = max(width, 1)
        go_left = np.zeros((n, width), dtype=np.bool_)
        go_left[categorical] = True
        for node, start, size in zip(
            nodes.tolist(), segments.tolist(), sizes.tolist(), strict=True
        ):
            go_left[node, categories[start : start + size]] = False
        extra = {
            "is_categorical": categorical,
            "left_categories": go_left,
            "known_categories": np.ones((n, width), dtype=np.bool_),
            "unknown_left": categorical,
        }
    return Tree(
        children_left=np.where(is_leaf, -1, left),
        children_right=np.where(is_leaf, -1, right),
        feature=feature,
        threshold=np.where(is_leaf | categorical, 0.0, below),
        missing_left=np.asarray(raw["default_left"], dtype=np.bool_),
        cover=np.asarray(raw["sum_hessian"], dtype=np.float64),
        value=value,
        **extra,
    )
