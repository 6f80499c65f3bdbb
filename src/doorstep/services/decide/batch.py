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

from doorstep.core.contract import ROW_COLUMN, ValidatedBatch, validate_batch
from doorstep.core.reasons import REASON_DTYPE, ReasonStyle, render_reasons
from doorstep.core.routing import in_canary
from doorstep.services.apps.loading import LoadedApp

__all__ = [
    "DECISION_SCHEMA",
    "DecisionBatch",
    "decide_batch",
    "decide_recorded",
    "decide_validated",
    "decision_schema",
]

DECISION_SCHEMA: dict[str, pl.DataType] = {
    "row": pl.Int64(),
    "entity_id": pl.String(),
    "score": pl.Float64(),
    "action": pl.String(),
    "rule": pl.String(),
    "review": pl.Boolean(),
    "control": pl.Boolean(),
    "status": pl.String(),
    "reasons_text": pl.String(),
    "reasons": REASON_DTYPE,
    "model_version": pl.String(),
    "model_hash": pl.String(),
}
"""Columns of a decisions batch, in order (multiclass apps add ``predicted_class`` after
``score``). ``row`` is the 1-based record number in the input; ``rule`` the name of the rule
that matched (null when the default applied); reasons are null for unexplained decisions."""


@dataclass(frozen=True)
class DecisionBatch:
    """Decisions for the valid records of a batch, and one reject row per broken rule."""

    decisions: pl.DataFrame
    rejects: pl.DataFrame
    shadow: pl.DataFrame | None = None
    """What the app's shadow version decided on the same valid records (same columns, same
    rows in the same order), when it has one: stored beside, never acted on."""


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
    checked = validate_batch(frame, app.spec.inputs, row_offset=row_offset)
    return decide_validated(app, checked, explain=explain)


def decide_validated(
    app: LoadedApp, checked: ValidatedBatch, *, explain: bool | None = None
) -> DecisionBatch:
    """:func:`decide_batch` after the input contract's check (online requests check clean
    records with :func:`doorstep.core.records.validate_clean`).

    With a canary, the entities it takes (:func:`doorstep.core.routing.in_canary`) are decided
    by its version and the others by the champion, each row naming its version; the policy,
    review band and control group are the app's for both. With a shadow, its version decides
    every record too (:attr:`DecisionBatch.shadow`)."""
    valid = checked.valid
    shadow = None
    if app.shadow is not None and valid.height:  # scored in the same micro-batch
        shadow = _decide(app.shadow, valid, explain)
    return DecisionBatch(_routed(app, valid, explain), checked.rejects, shadow)


def _routed(app: LoadedApp, valid: pl.DataFrame, explain: bool | None) -> pl.DataFrame:
    """The decisions of ``valid``: the canary's entities by the canary, the rest by ``app``."""
    if app.canary is None or valid.height == 0:
        return _decide(app, valid, explain)
    mask = in_canary(app.name, valid[app.spec.inputs.id], app.canary.share)
    if not mask.any():
        return _decide(app, valid, explain)
    if mask.all():
        return _decide(app.canary.app, valid, explain)
    chosen = pl.Series(mask)
    parts = [
        _decide(app, valid.filter(~chosen), explain),
        _decide(app.canary.app, valid.filter(chosen), explain),
    ]
    return pl.concat(parts).sort("row")


def _decide(app: LoadedApp, valid: pl.DataFrame, explain: bool | None) -> pl.DataFrame:
    """The decisions of ``valid`` (checked records) by ``app``'s own model."""
    features = valid[list(app.spec.feature_fields)]
    return _decided(app, valid, _score_columns(app, features), features, explain)


def decide_recorded(
    app: LoadedApp, valid: pl.DataFrame, scores: pl.Series, actions: pl.Series | None
) -> pl.DataFrame:
    """The decisions of ``valid`` (checked records) with the scores they were given when they
    were made (``scores``, checked by the caller), not the model's: the policy decides on them
    (rule, review band, control group), unless ``actions`` says what was done (each row's
    action, checked by the caller; a row whose action is not the policy's names no rule). None
    is explained: the model's reasons would not explain a score it did not give."""
    scored = pl.DataFrame({"score": scores.cast(pl.Float64)})
    decided = _decided(app, valid, scored, None, False)
    if actions is None:
        return decided
    same = decided["action"] == actions
    return decided.with_columns(
        actions.alias("action"),
        pl.when(pl.Series(same)).then(pl.col("rule")).otherwise(None).alias("rule"),
    )


def _decided(
    app: LoadedApp,
    valid: pl.DataFrame,
    scored: pl.DataFrame,
    features: pl.DataFrame | None,
    explain: bool | None,
) -> pl.DataFrame:
    spec = app.spec
    policy_input = pl.concat([valid, scored], how="horizontal")
    result = app.policy.evaluate(policy_input, entity_ids=valid[spec.inputs.id], app=app.name)
    # status: held_out (control, would act) > pending_review > decided
    review = result.review.to_numpy()
    held = result.control.to_numpy() & result.acted
    status = _STATUSES[np.where(held, 0, np.where(review, 1, 2))]
    n = valid.height
    columns = [
        valid[ROW_COLUMN].alias("row"),
        valid[spec.inputs.id].alias("entity_id"),
        scored["score"],
        *([scored["predicted_class"]] if app.classes else []),
        result.action.alias("action"),
        _rule_names(app)[result.slot].alias("rule"),
        result.review.alias("review"),
        result.control.alias("control"),
        status.alias("status"),
    ]
    mask = _explain_mask(spec.explain.for_, result.acted, review, explain)
    if features is None:  # nothing to explain
        mask[:] = False
        features = valid.select([])
    reasons, reasons_text = _reasons(app, scored, features, mask)
    identity = [
        _constant(app.model_version, n, pl.String).alias("model_version"),
        _constant(app.model.metadata.content_hash, n, pl.String).alias("model_hash"),
    ]
    return pl.DataFrame([*columns, reasons_text, reasons, *identity])


def _rule_names(app: LoadedApp) -> pl.Series:
    """Rule names per policy slot: the rules in order, then null for the default."""
    rules = app.spec.policy.rules
    names = [r.name or f"rule {i + 1}" for i, r in enumerate(rules)]
    return pl.Series("rule", [*names, None], dtype=pl.String)


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
    which: Sequence[str],
    acted: npt.NDArray[np.bool_],
    review: npt.NDArray[np.bool_],
    override: bool | None,
) -> npt.NDArray[np.bool_]:
    if override is not None or "all" in which:
        return np.full(len(acted), override is not False, dtype=np.bool_)
    mask = np.zeros(len(acted), dtype=np.bool_)
    if "acted" in which:
        mask |= acted
    if "review" in which:
        mask |= review
    return mask


def _reasons(
    app: LoadedApp,
    scored: pl.DataFrame,
    features: pl.DataFrame,
    mask: npt.NDArray[np.bool_],
) -> tuple[pl.Series, pl.Series]:
    """``(reasons, reasons_text)`` for every row: explained where ``mask`` holds, else null."""
    rows, count = len(mask), int(mask.sum())
    if count == 0 or app.spec.explain.top == 0:
        return (
            _constant(None, rows, REASON_DTYPE).alias("reasons"),
            _constant(None, rows, pl.String).alias("reasons_text"),
        )
    chosen_rows = np.flatnonzero(mask)
    chosen = features if count == rows else features[chosen_rows]
    contributions = app.model.contributions(chosen)
    output = None
    if app.classes:  # explain the predicted class of each decision
        predicted = scored["predicted_class"][chosen_rows]
        codes = predicted.replace_strict(app.classes, list(range(len(app.classes))))
        output = codes.to_numpy().astype(np.intp)
    explain = app.spec.explain
    style = ReasonStyle(explain.top, explain.score_label, explain.score_unit)
    reasons, text = render_reasons(chosen, contributions, app.spec.feature_fields, style, output)
    if count == rows:
        return reasons.alias("reasons"), text.alias("reasons_text")
    # spread the explained rows back over the batch: unexplained rows point at one trailing null
    positions = np.full(rows, count, dtype=np.int64)
    positions[chosen_rows] = np.arange(count)
    return (
        _spread(reasons, positions).alias("reasons"),
        _spread(text, positions).alias("reasons_text"),
    )


def _spread(values: pl.Series, positions: npt.NDArray[np.int64]) -> pl.Series:
    padded = values.extend_constant(None, 1)
    return padded[positions]


def _constant(
    value: bool | str | None, length: int, dtype: pl.DataType | type[pl.DataType]
) -> pl.Series:
    return pl.Series(None, [value], dtype=dtype).new_from_index(0, length)
