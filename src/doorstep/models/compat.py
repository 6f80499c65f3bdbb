"""Does a model fit the spec's input contract? Every disagreement, one readable line each.

The caller reports the lines returned by :func:`check_model_inputs` as problems, all at once,
and those of :func:`unseen_categories` as warnings: a category value the model never saw is
scored as missing (as a null is), not refused.
"""

from __future__ import annotations

from doorstep.core.ports import ModelMetadata
from doorstep.core.spec.models import FieldSpec
from doorstep.core.suggest import closest
from doorstep.models.frames import is_positional

__all__ = ["check_model_inputs", "unseen_categories"]


def check_model_inputs(metadata: ModelMetadata, fields: dict[str, FieldSpec]) -> list[str]:
    """Mismatches between the spec's feature fields (``feature: true``) and the model's inputs:
    missing or extra features, count (for models without feature names), categorical versus
    numeric. An empty list means they agree (category values the model never saw are
    :func:`unseen_categories`)."""
    features = {name: spec for name, spec in fields.items() if spec.feature}
    names = list(metadata.feature_names)
    if is_positional(names):
        return _positional(metadata, list(features.items()))
    lines: list[str] = []
    for name in names:
        if name not in features:
            hint = _did_you_mean(name, [n for n in features if n not in names])
            extra = " (it is an input, but has 'feature: false')" if name in fields else hint
            lines.append(f"the model uses {name!r} but the spec has no such input{extra}")
    for name in features:
        if name not in names:
            hint = _did_you_mean(name, [n for n in names if n not in features])
            lines.append(
                f"the spec's input {name!r} is not used by the model{hint}; set "
                "'feature: false' on it if it is carried only for actions"
            )
    for name in names:
        if name in features:
            lines.extend(_categories(metadata, name, name, features[name]))
    return lines


def _positional(metadata: ModelMetadata, features: list[tuple[str, FieldSpec]]) -> list[str]:
    names = metadata.feature_names
    if len(names) != len(features):
        return [
            f"the model takes {len(names)} unnamed features ({names[0]}…{names[-1]}) but the "
            f"spec declares {len(features)} feature inputs; without names in the model, the "
            "spec's field order is used, so list exactly the model's features in its order"
        ]
    lines: list[str] = []
    for model_name, (name, spec) in zip(names, features, strict=True):
        lines.extend(_categories(metadata, model_name, name, spec))
    return lines


def _categories(metadata: ModelMetadata, model_name: str, name: str, spec: FieldSpec) -> list[str]:
    where = name if model_name == name else f"{name} (the model's {model_name})"
    categorical = model_name in metadata.categories
    if spec.type == "category" and not categorical and metadata.kind not in ("onnx", "mlflow"):
        return [
            f"{where!r} is a category in the spec but the model treats it as a number; "
            "train the model with it as a categorical feature (pandas 'category' dtype or an "
            "encoder), or declare it with a numeric type"
        ]
    known = metadata.categories.get(model_name) or []
    if spec.type == "bool" and _booleans(known):
        listed = ", ".join(f'"{v}"' for v in known)
        return [
            f"{where!r} is of type 'bool' in the spec but the model treats it as a category of "
            f"{listed} (booleans turned to text, as pandas' astype(str) writes them); declare "
            f"it as 'type: category' with 'values: [{listed}]': true and false (JSON booleans, "
            "boolean columns) are mapped onto them"
        ]
    if spec.type != "category" and categorical:
        return [
            f"{where!r} is of type {spec.type!r} in the spec but the model treats it as a "
            "category; declare it as 'type: category' with its 'values'"
        ]
    return []


def unseen_categories(metadata: ModelMetadata, fields: dict[str, FieldSpec]) -> list[str]:
    """One line per category field whose spec values include some the model never saw: those
    are accepted and scored as missing (NaN for tree libraries), as a null is."""
    features = [(name, spec) for name, spec in fields.items() if spec.feature]
    names = list(metadata.feature_names)
    if is_positional(names):
        if len(names) != len(features):
            return []
        pairs = [(m, name, spec) for m, (name, spec) in zip(names, features, strict=True)]
    else:
        pairs = [(name, name, spec) for name, spec in features if name in names]
    lines: list[str] = []
    for model_name, name, spec in pairs:
        known = metadata.categories.get(model_name) or []
        unseen = [v for v in spec.values or [] if v not in known]
        if spec.type != "category" or not known or not unseen:
            continue
        where = name if model_name == name else f"{name} (the model's {model_name})"
        lines.append(
            f"{where!r}: the model never saw the value(s) {', '.join(map(repr, unseen))} (it "
            f"knows {', '.join(map(repr, known))}); they are scored as missing"
        )
    return lines


def _booleans(known: list[str]) -> bool:
    """Whether a model's categories are booleans written as text (``"False"``, ``"True"``)."""
    return bool(known) and {k.lower() for k in known} <= {"true", "false"}


def _did_you_mean(name: str, candidates: list[str]) -> str:
    close = closest(name, candidates, cutoff=0.5)
    if close is None:
        close = next((c for c in candidates if c.startswith(name) or name.startswith(c)), None)
    return f" (did you mean {close!r}?)" if close is not None else ""
