"""The one decision path: validate → predict → decide → explain, on a columnar batch.

Online requests (a batch of one, or a micro-batch) and batch files go through
:func:`decide_batch` alike.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import polars as pl

from doorstep.core.contract import validate_batch
from doorstep.core.reasons import REASON_DTYPE, ReasonStyle, render_reasons
from doorstep.services.app import LoadedApp
from doorstep.types import DECISION_SCHEMA

__all__ = ["DecisionBatch", "decide_batch", "decision_schema"]


@dataclass(frozen=True)
class DecisionBatch:
    """Decisions for the valid records of a batch, and one reject row per broken rule."""

    decisions: pl.DataFrame
    rejects: pl.DataFrame


def decision_schema(app: LoadedApp) -> dict[str, pl.DataType]:
    """Columns of this app's decisions (multiclass apps add ``predicted_class``)."""
    if not app.classes:
        return dict(DECISION_SCHEMA)
    schema: dict[str, pl.DataType] = {}
    for name, dtype in DECISION_SCHEMA.items():
        schema[name] = dtype
        if name == "score":
            schema["predicted_class"] = pl.String()
    return schema


def decide_batch(
    app: LoadedApp, frame: pl.DataFrame, *, row_offset: int = 0, explain: bool | None = None
) -> DecisionBatch:
    """Decide every valid record of ``frame``; ``row_offset`` numbers rows across chunks.

    ``explain`` overrides the spec's ``explain.for``: ``True`` explains every decision,
    ``False`` none.
    """
    spec = app.spec
    checked = validate_batch(frame, spec.inputs, row_offset=row_offset)
    valid = checked.valid
    features = valid.select(list(spec.feature_fields))
    scored = _score_columns(app, features)
    policy_input = pl.concat([valid, scored], how="horizontal")
    result = app.policy.evaluate(policy_input, entity_ids=valid[spec.inputs.id], app=app.name)
    acted = result.action != "none"
    status = (
        pl.when(result.control & acted)
        .then(pl.lit("held_out"))
        .when(result.review)
        .then(pl.lit("pending_review"))
        .otherwise(pl.lit("decided"))
    )
    rule_names = [r.name or f"rule {i + 1}" for i, r in enumerate(spec.policy.rules)]
    decisions = pl.DataFrame(
        {
            "row": valid["_row"],
            "entity_id": valid[spec.inputs.id],
            "score": scored["score"],
            "action": result.action,
            "rule": result.rule.cast(pl.Int64).replace_strict(
                list(range(len(rule_names))), rule_names, default=None, return_dtype=pl.String
            ),
            "review": result.review,
            "control": result.control,
        }
    ).with_columns(
        status=status,
        model_version=pl.lit(app.model_version),
        model_hash=pl.lit(app.model.metadata.content_hash),
    )
    if app.classes:
        decisions = decisions.with_columns(predicted_class=scored["predicted_class"])
    mask = _explain_mask(spec.explain.for_, acted, result.review, explain)
    decisions = _with_reasons(app, decisions, features, mask)
    return DecisionBatch(
        decisions.select(list(decision_schema(app))),
        checked.rejects,
    )


def _score_columns(app: LoadedApp, features: pl.DataFrame) -> pl.DataFrame:
    scores = app.model.predict(features)
    if scores.ndim == 1:
        return pl.DataFrame({"score": scores.astype(np.float64, copy=False)})
    classes = app.model.metadata.classes
    best = scores.argmax(axis=1)
    columns = {f"score_{c}": scores[:, i] for i, c in enumerate(classes)}
    return pl.DataFrame(
        {
            "score": scores[np.arange(len(best)), best],
            "predicted_class": np.array(classes, dtype=object)[best].astype(str),
            **columns,
        }
    )


def _explain_mask(
    which: Sequence[str], acted: pl.Series, review: pl.Series, override: bool | None
) -> pl.Series:
    if override is not None or "all" in which:
        return _constant(override is not False, len(acted), pl.Boolean)
    mask = _constant(False, len(acted), pl.Boolean)
    if "acted" in which:
        mask = mask | acted
    if "review" in which:
        mask = mask | review
    return mask


def _with_reasons(
    app: LoadedApp, decisions: pl.DataFrame, features: pl.DataFrame, mask: pl.Series
) -> pl.DataFrame:
    count = int(mask.sum())
    if count == 0 or app.spec.explain.top == 0:
        return decisions.with_columns(
            reasons_text=pl.lit(None, dtype=pl.String), reasons=pl.lit(None, dtype=REASON_DTYPE)
        )
    chosen = features.filter(mask)
    contributions = app.model.contributions(chosen)
    output = None
    if app.classes:  # explain the predicted class of each decision
        predicted = decisions.filter(mask)["predicted_class"]
        codes = predicted.replace_strict(app.classes, list(range(len(app.classes))))
        output = codes.to_numpy().astype(np.intp)
    explain = app.spec.explain
    style = ReasonStyle(explain.top, explain.score_label, explain.score_unit)
    reasons, text = render_reasons(chosen, contributions, app.spec.feature_fields, style, output)
    # spread the explained rows back over the batch: unexplained rows point at one trailing null
    positions = np.full(decisions.height, count, dtype=np.int64)
    positions[np.flatnonzero(mask.to_numpy())] = np.arange(count)
    return decisions.with_columns(
        _spread(reasons, positions).alias("reasons"),
        _spread(text, positions).alias("reasons_text"),
    )


def _spread(values: pl.Series, positions: npt.NDArray[np.int64]) -> pl.Series:
    padded = values.extend_constant(None, 1)
    return padded.gather(positions)


def _constant(value: bool | None, length: int, dtype: pl.DataType | type[pl.DataType]) -> pl.Series:
    return pl.select(pl.repeat(value, length, dtype=dtype)).to_series()
