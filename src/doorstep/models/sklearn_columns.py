"""How a scikit-learn Pipeline's transformed columns trace back to its input columns, and which
input columns it treats as categories.

Exact tree explanations of a Pipeline are computed over the columns its final estimator sees
(after one-hot encoding, scaling, ...) and summed back onto the input columns each came from.
That is exactly additive when every transformed column comes from one input column, which holds
for the transformers listed in :data:`ONE_TO_ONE` and for ``OneHotEncoder``; any other
transformer makes :func:`input_groups` return None and the adapter falls back to permutation.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

__all__ = ["ONE_TO_ONE", "grouping_matrix", "input_categories", "input_groups", "split_pipeline"]

ONE_TO_ONE = frozenset(
    {
        "Binarizer",
        "MaxAbsScaler",
        "MinMaxScaler",
        "OrdinalEncoder",
        "PowerTransformer",
        "QuantileTransformer",
        "RobustScaler",
        "SimpleImputer",
        "StandardScaler",
        "TargetEncoder",
    }
)
"""Transformers whose output column ``j`` depends on input column ``j`` alone (checked to keep
the number of columns, so e.g. ``SimpleImputer(add_indicator=True)`` is refused)."""


def split_pipeline(estimator: Any) -> tuple[list[Any], Any]:
    """``(transformers, final estimator)`` of a Pipeline; ``([], estimator)`` otherwise."""
    steps = getattr(estimator, "steps", None)
    if not isinstance(steps, list) or not steps:
        return [], estimator
    transformers = [step for _, step in steps[:-1] if step not in (None, "passthrough")]
    return transformers, steps[-1][1]


def input_groups(transformers: list[Any], n_inputs: int) -> list[int] | None:
    """For each column the transformers output, the input column it comes from (or None)."""
    groups: list[int] | None = list(range(n_inputs))
    for transformer in transformers:
        if groups is None:
            return None
        inner = _groups(transformer, len(groups))
        groups = None if inner is None else [groups[j] for j in inner]
    return groups


def grouping_matrix(groups: list[int], n_inputs: int) -> npt.NDArray[np.float64]:
    """0/1 matrix ``(transformed, inputs)`` that sums transformed columns onto their inputs."""
    matrix = np.zeros((len(groups), n_inputs))
    matrix[np.arange(len(groups)), groups] = 1.0
    return matrix


def _groups(transformer: Any, n_in: int) -> list[int] | None:
    name = type(transformer).__name__
    if transformer == "passthrough" or (
        name == "FunctionTransformer" and getattr(transformer, "func", None) is None
    ):  # a ColumnTransformer stores 'passthrough' as an identity FunctionTransformer
        return list(range(n_in))
    if name == "Pipeline":
        return input_groups(split_pipeline(transformer)[0] + [transformer.steps[-1][1]], n_in)
    if name == "ColumnTransformer":
        return _column_transformer_groups(transformer, n_in)
    if name == "OneHotEncoder":
        counts = getattr(transformer, "_n_features_outs", None)
        if counts is None:
            drops = getattr(transformer, "drop_idx_", None)
            counts = [
                len(c) - (0 if drops is None or drops[i] is None else 1)
                for i, c in enumerate(transformer.categories_)
            ]
        return [i for i, count in enumerate(counts) for _ in range(int(count))]
    if name in ONE_TO_ONE and _width(transformer) == n_in:
        return list(range(n_in))
    return None


def _width(transformer: Any) -> int | None:
    try:
        return len(transformer.get_feature_names_out())
    except Exception:  # transformers that cannot name their outputs
        return None


def _column_transformer_groups(ct: Any, n_in: int) -> list[int] | None:
    indices = _input_indices(ct, n_in)
    out: list[int] = []
    for name, transformer, _ in ct.transformers_:
        columns = indices.get(name, [])
        if transformer == "drop" or not columns:
            continue
        inner = _groups(transformer, len(columns))
        if inner is None:
            return None
        out.extend(columns[j] for j in inner)
    return out


def _input_indices(ct: Any, n_in: int) -> dict[str, list[int]]:
    private = getattr(ct, "_transformer_to_input_indices", None)
    if isinstance(private, dict):
        return {k: [int(i) for i in v] for k, v in private.items()}
    names = [str(n) for n in getattr(ct, "feature_names_in_", [])]
    out: dict[str, list[int]] = {}
    for name, _, columns in ct.transformers_:
        selected = np.arange(n_in)[columns] if not _is_names(columns) else None
        if selected is None:
            cols = [columns] if isinstance(columns, str) else list(columns)
            out[name] = [names.index(c) for c in cols]
        else:
            out[name] = [int(i) for i in np.atleast_1d(selected)]
    return out


def _is_names(columns: Any) -> bool:
    if isinstance(columns, str):
        return True
    items = list(columns) if not isinstance(columns, slice) else []
    return bool(items) and isinstance(items[0], str)


def input_categories(estimator: Any, names: list[str]) -> dict[str, list[str]]:
    """Categories per input column that the model encodes (empty list: categorical, with the
    categories not recorded, e.g. integer-coded HistGradientBoosting features)."""
    out: dict[str, list[str]] = {}
    _collect(estimator, names, out)
    return out


def _collect(estimator: Any, names: list[str], out: dict[str, list[str]]) -> None:
    kind = type(estimator).__name__
    if kind == "Pipeline":
        transformers, final = split_pipeline(estimator)
        if transformers:
            _collect(transformers[0], names, out)
        else:
            _collect(final, names, out)
    elif kind == "ColumnTransformer":
        indices = _input_indices(estimator, len(names))
        for name, transformer, _ in estimator.transformers_:
            if transformer not in ("drop", "passthrough"):
                _collect(transformer, [names[i] for i in indices.get(name, [])], out)
    elif kind in ("OneHotEncoder", "OrdinalEncoder", "TargetEncoder"):
        for column, categories in zip(names, estimator.categories_, strict=False):
            out[column] = [str(c) for c in categories if not _is_missing(c)]
    elif kind.startswith("HistGradientBoosting"):
        flags = getattr(estimator, "is_categorical_", None)
        if flags is None:
            return
        preprocessor = getattr(estimator, "_preprocessor", None)
        encoded = iter(_hgb_categories(preprocessor))
        for column, flag in zip(names, flags, strict=False):
            if flag:
                out[column] = next(encoded, [])


def _hgb_categories(preprocessor: Any) -> list[list[str]]:
    if preprocessor is None:
        return []
    encoder = dict(getattr(preprocessor, "named_transformers_", {})).get("encoder")
    if encoder is None or not hasattr(encoder, "categories_"):
        return []
    return [[str(c) for c in cats if not _is_missing(c)] for cats in encoder.categories_]


def _is_missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and value != value)
