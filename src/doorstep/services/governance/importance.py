"""Global feature importance from the explanations already stored with decisions.

A decision stores the top ``explain.top`` reasons of the decisions ``explain.for`` says to
explain: each a feature's signed contribution and its ``effect`` (points of probability for
classifiers, target units for regression). A feature's importance here is the **mean absolute
effect over the explained decisions**, counting zero where it was not among a decision's top
reasons — the familiar mean |SHAP| when every reason is stored, a lower bound otherwise — with
a normal-approximation interval, and how often it was among the reasons.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from doorstep.core.stats.intervals import Interval, MeanSums, mean_interval
from doorstep.store.protocols import DecisionQuery, DecisionStore

__all__ = ["FeatureImportance", "ImportanceSummary", "stored_importance"]

PAGE = 1_000
DEFAULT_DECISIONS = 20_000
"""The latest decisions read for importance (explanations of older ones are not read)."""


@dataclass(frozen=True)
class FeatureImportance:
    feature: str
    label: str
    mean_abs_effect: Interval
    """Mean absolute effect over the explained decisions (zero where not among the reasons)."""
    shown: int
    """Explained decisions that gave it as a reason."""


@dataclass(frozen=True)
class ImportanceSummary:
    decisions: int
    """Decisions read."""
    explained: int
    """Of them, those with stored reasons."""
    top: int
    """Reasons stored per explained decision (``explain.top``)."""
    features: tuple[FeatureImportance, ...]
    """Most important first."""


def stored_importance(
    store: DecisionStore,
    app: str,
    *,
    labels: dict[str, str],
    top: int,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: int = DEFAULT_DECISIONS,
) -> ImportanceSummary:
    """Importance of each feature over the latest ``limit`` decisions of ``[since, until)``;
    ``labels``: the spec's business label of each feature."""
    total: dict[str, float] = {}
    squares: dict[str, float] = {}
    shown: dict[str, int] = {}
    decisions = explained = 0
    cursor: str | None = None
    while decisions < limit:
        page = store.list_decisions(
            DecisionQuery(
                app=app, since=since, until=until, cursor=cursor, limit=min(PAGE, limit - decisions)
            )
        )
        for decision in page.items:
            decisions += 1
            if not decision.reasons:
                continue
            explained += 1
            for reason in decision.reasons:
                effect = abs(float(reason["effect"]))
                name = reason["feature"]
                total[name] = total.get(name, 0.0) + effect
                squares[name] = squares.get(name, 0.0) + effect * effect
                shown[name] = shown.get(name, 0) + 1
        cursor = page.next_cursor
        if cursor is None or not page.items:
            break
    features = [
        FeatureImportance(
            name,
            labels.get(name, name),
            mean_interval(MeanSums(explained, total[name], squares[name])),
            shown[name],
        )
        for name in total
    ]
    features.sort(key=lambda f: -(f.mean_abs_effect.value or 0.0))
    return ImportanceSummary(decisions, explained, top, tuple(features))
