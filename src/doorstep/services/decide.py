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

from doorstep.core.contract import ROW_COLUMN, validate_batch
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
    # status: held_out (control, would act) > pending_review > decided, gathered by index
    held = (result.control & acted).to_numpy()
    status = _STATUSES.gather(np.where(held, 0, np.where(result.review.to_numpy(), 1, 2)))
    rule_names = pl.Series(
        [r.name or f"rule {i + 1}" for i, r in enumerate(spec.policy.rules)] + [None],
        dtype=pl.String,
    )
    n = valid.height
    columns = [
        valid[ROW_COLUMN].alias("row"),
        valid[spec.inputs.id].alias("entity_id"),
        scored["score"],
        *([scored["predicted_class"]] if app.classes else []),
        result.action.alias("action"),
        rule_names.gather(result.rule.fill_null(len(spec.policy.rules))).alias("rule"),
        result.review.alias("review"),
        result.control.alias("control"),
        status.alias("status"),
    ]
    mask = _explain_mask(spec.explain.for_, acted, result.review, explain)
    reasons, reasons_text = _reasons(app, scored, features, mask)
    identity = [
        _constant(app.model_version, n, pl.String).alias("model_version"),
        _constant(app.model.metadata.content_hash, n, pl.String).alias("model_hash"),
    ]
    decisions = pl.DataFrame([*columns, reasons_text, reasons, *identity])
    return DecisionBatch(decisions, checked.rejects)


_STATUSES = pl.Series("status", ["held_out", "pending_review", "decided"], dtype=pl.String)


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


def _reasons(
    app: LoadedApp, scored: pl.DataFrame, features: pl.DataFrame, mask: pl.Series
) -> tuple[pl.Series, pl.Series]:
    """``(reasons, reasons_text)`` for every row: explained where ``mask`` holds, else null."""
    rows, count = features.height, int(mask.sum())
    if count == 0 or app.spec.explain.top == 0:
        return (
            _constant(None, rows, REASON_DTYPE).alias("reasons"),
            _constant(None, rows, pl.String).alias("reasons_text"),
        )
    chosen = features.filter(mask)
    contributions = app.model.contributions(chosen)
    output = None
    if app.classes:  # explain the predicted class of each decision
        predicted = scored.filter(mask)["predicted_class"]
        codes = predicted.replace_strict(app.classes, list(range(len(app.classes))))
        output = codes.to_numpy().astype(np.intp)
    explain = app.spec.explain
    style = ReasonStyle(explain.top, explain.score_label, explain.score_unit)
    reasons, text = render_reasons(chosen, contributions, app.spec.feature_fields, style, output)
    # spread the explained rows back over the batch: unexplained rows point at one trailing null
    positions = np.full(rows, count, dtype=np.int64)
    positions[np.flatnonzero(mask.to_numpy())] = np.arange(count)
    return (
        _spread(reasons, positions).alias("reasons"),
        _spread(text, positions).alias("reasons_text"),
    )


def _spread(values: pl.Series, positions: npt.NDArray[np.int64]) -> pl.Series:
    padded = values.extend_constant(None, 1)
    return padded.gather(positions)


def _constant(
    value: bool | str | None, length: int, dtype: pl.DataType | type[pl.DataType]
) -> pl.Series:
    return pl.repeat(value, length, dtype=dtype, eager=True)
