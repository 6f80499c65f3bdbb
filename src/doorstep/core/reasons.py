"""Reasons: the top contributions of each decision, rendered as sentences people can read.

Contributions arrive in the model's link space (log-odds for most classifiers). People think in
points of probability, so for classifiers each contribution is rescaled onto the probability
scale so that the points of one decision add up exactly to ``score - base score``::

    points_i = 100 * phi_i * (p - p0) / sum(phi)        # p = score, p0 = score at base value

When ``sum(phi)`` is ~0 the local slope ``p * (1 - p)`` is used instead. Regression reasons stay
in the target's units. Sentences follow one deterministic template::

    "Support tickets in the last 30 days: 7, raises churn risk by 18 points"
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import polars as pl

from doorstep.core.ports import Contributions
from doorstep.core.spec.models import FieldSpec

__all__ = ["REASON_DTYPE", "ReasonStyle", "contribution_points", "render_reasons"]

REASON_DTYPE = pl.List(
    pl.Struct(
        {
            "feature": pl.String,
            "label": pl.String,
            "value": pl.String,
            "contribution": pl.Float64,
            "effect": pl.Float64,
            "sentence": pl.String,
        }
    )
)
"""Structured reasons of one decision: ``effect`` is in points (classifiers) or target units."""


@dataclass(frozen=True)
class ReasonStyle:
    """How reasons read: how many, what the score means, and its unit."""

    top: int = 3
    score_label: str = "the score"
    score_unit: str | None = None
    """``None`` for classifiers (effects in points of probability)."""


def _sigmoid(x: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    return 0.5 * (1.0 + np.tanh(0.5 * x))


def _softmax(x: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    z: npt.NDArray[np.float64] = np.exp(x - x.max(axis=-1, keepdims=True))
    out: npt.NDArray[np.float64] = z / z.sum(axis=-1, keepdims=True)
    return out


def contribution_points(
    contributions: Contributions, output: npt.NDArray[np.intp] | None = None
) -> npt.NDArray[np.float64]:
    """Per-row, per-feature effects ``(rows, features)``: points of probability for classifiers,
    target units for regression. ``output`` picks the explained class per row (multiclass)."""
    values, base = contributions.values, contributions.base
    rows = np.arange(values.shape[0])
    pick = np.zeros(values.shape[0], dtype=np.intp) if output is None else output
    phi = values[rows, pick, :]
    link = contributions.link
    if link == "identity":
        return phi.copy()
    if link == "probability":
        return 100.0 * phi
    if link == "logit":
        b = base[rows, pick]
        p0, p = _sigmoid(b), _sigmoid(b + phi.sum(axis=1))
    else:  # softmax: probability of the explained class, at base and at the row's margins
        margins = base + values.sum(axis=2)
        p0 = _softmax(base)[rows, pick]
        p = _softmax(margins)[rows, pick]
    total = phi.sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        scale = np.where(np.abs(total) > 1e-12, (p - p0) / total, p * (1.0 - p))
    return 100.0 * phi * scale[:, None]


def _value_texts(frame: pl.DataFrame, fields: Mapping[str, FieldSpec]) -> pl.DataFrame:
    """Each feature's value as display text, with its unit; ``missing`` for nulls."""
    exprs = []
    for name, spec in fields.items():
        col = pl.col(name)
        if spec.type == "float":
            text = col.round(2).cast(pl.String).str.replace(r"\.0$", "")
        elif spec.type == "bool":
            text = pl.when(col).then(pl.lit("yes")).otherwise(pl.lit("no"))
        elif spec.type == "datetime":
            text = col.dt.to_string("%Y-%m-%d %H:%M")
        else:
            text = col.cast(pl.String)
        if spec.unit:
            text = pl.concat_str([text, pl.lit(" " + spec.unit)])
        exprs.append(pl.when(col.is_null()).then(pl.lit("missing")).otherwise(text).alias(name))
    return frame.select(exprs)


def render_reasons(
    frame: pl.DataFrame,
    contributions: Contributions,
    fields: Mapping[str, FieldSpec],
    style: ReasonStyle,
    output: npt.NDArray[np.intp] | None = None,
) -> tuple[pl.Series, pl.Series]:
    """Top-``k`` reasons per row of ``frame`` (the explained rows' features, in model order).

    Returns ``(reasons, reasons_text)``: a ``REASON_DTYPE`` list column and the sentences joined
    by ``"; "``. Ties are broken by feature order, so output is deterministic.
    """
    n, names = frame.height, contributions.feature_names
    if n == 0 or style.top == 0:
        return (
            pl.Series("reasons", [[] for _ in range(n)], dtype=REASON_DTYPE),
            pl.Series("reasons_text", [""] * n, dtype=pl.String),
        )
    effects = contribution_points(contributions, output)
    k = min(style.top, len(names))
    # stable top-k by |effect|: argsort of -|effect| with a stable sort keeps feature order on ties
    order = np.argsort(-np.abs(effects), axis=1, kind="stable")[:, :k]
    rows = np.repeat(np.arange(n), k)
    cols = order.ravel()
    labels = np.array([fields[f].label or f.replace("_", " ").capitalize() for f in names])
    texts = _value_texts(frame.select(names), {f: fields[f] for f in names}).to_numpy()
    phi = contributions.values[np.arange(n), 0 if output is None else output, :]
    flat = pl.DataFrame(
        {
            "row": rows,
            "feature": np.array(names)[cols],
            "label": labels[cols],
            "value": texts[rows, cols].astype(str),
            "contribution": phi[rows, cols],
            "effect": effects[rows, cols],
        }
    )
    magnitude = pl.col("effect").abs()
    if style.score_unit is None:
        amount = (
            pl.when(magnitude >= 9.95)
            .then(magnitude.round(0).cast(pl.Int64).cast(pl.String))
            .otherwise(magnitude.round(1).cast(pl.String).str.replace(r"\.0$", ""))
        )
        points = pl.when(amount == "1").then(pl.lit(" point")).otherwise(pl.lit(" points"))
        amount = pl.concat_str([amount, points])
    else:
        amount = pl.concat_str(
            [
                magnitude.round(2).cast(pl.String).str.replace(r"\.0$", ""),
                pl.lit(" " + style.score_unit),
            ]
        )
    verb = pl.when(pl.col("effect") >= 0).then(pl.lit(" raises ")).otherwise(pl.lit(" lowers "))
    flat = flat.with_columns(
        sentence=pl.concat_str(
            [
                pl.col("label"),
                pl.lit(": "),
                pl.col("value"),
                pl.lit(","),
                verb,
                pl.lit(style.score_label + " by "),
                amount,
            ]
        )
    )
    grouped = flat.group_by("row", maintain_order=True).agg(
        reasons=pl.struct("feature", "label", "value", "contribution", "effect", "sentence"),
        reasons_text=pl.col("sentence").str.join("; "),
    )
    return grouped["reasons"].cast(REASON_DTYPE), grouped["reasons_text"]
