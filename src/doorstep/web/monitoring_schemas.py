"""Pydantic models that document the outcome and monitoring routes in OpenAPI (responses are
built as plain data; these describe their shape). See ``docs/monitoring.md``."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel

from doorstep.web.schemas import RecordError

__all__ = [
    "CalibrationBinOut",
    "IntervalOut",
    "MonitoringOut",
    "OutcomesOut",
    "OverrideWindowOut",
    "OverridesOut",
    "QualityOut",
    "RoiOut",
]


class IntervalOut(BaseModel):
    """An estimate with its 95% interval (``null`` when nothing was measured)."""

    value: float | None
    low: float | None
    high: float | None


class UnmatchedOut(BaseModel):
    record: int
    reason: Literal["no_decision", "outside_horizon", "unknown_decision", "before_decision"]


class OutcomesOut(BaseModel):
    recorded: int
    """Outcomes written now, matched to a decision or not."""
    matched: int
    unmatched: dict[str, int]
    """Recorded outcomes that belong to no decision, by reason."""
    unmatched_records: list[UnmatchedOut]
    duplicates: int
    """Outcomes recorded before (same key, time and label or value): nothing written."""
    errors: list[RecordError]
    """Refused outcomes, each naming its record, field and rule."""


class CalibrationBinOut(BaseModel):
    low: float
    high: float
    count: int
    mean_score: float | None
    positive_rate: IntervalOut


class QualityOut(BaseModel):
    """Live quality of one window (or the whole range). Binary apps: ``auc`` (DeLong
    interval), ``precision``, ``recall`` (Wilson), ``brier``, ``positive_rate``, ``positives``
    and ``calibration`` (whole range only); regression: ``mae``, ``rmse``, ``mean_error``;
    multiclass: ``accuracy``."""

    model_config = {"extra": "allow"}
    task: Literal["binary", "regression", "multiclass"]
    labelled: int
    """Labelled decisions measured."""
    enough: bool
    """At least ``monitoring.min_samples.quality`` of them."""
    start: str | None = None
    end: str | None = None
    auc: IntervalOut | None = None
    precision: IntervalOut | None = None
    recall: IntervalOut | None = None
    brier: IntervalOut | None = None
    calibration: list[CalibrationBinOut] | None = None
    mae: IntervalOut | None = None
    rmse: IntervalOut | None = None


class QualitySectionOut(BaseModel):
    on: Literal["all", "untreated"]
    threshold: float | None
    total: QualityOut
    windows: list[QualityOut]


class OverrideWindowOut(BaseModel):
    """Reviews of one window's decisions (by decision time)."""

    start: str
    end: str
    reviewed: int
    overridden: int
    pending_review: int
    override_rate: IntervalOut
    judged: int | None = None
    right: int | None = None
    right_rate: IntervalOut | None = None


class OverridesOut(BaseModel):
    reviewed: int
    overridden: int
    pending_review: int
    override_rate: IntervalOut
    judged: int | None = None
    """Binary apps: overrides that flipped acting, whose outcome is known."""
    right: int | None = None
    right_rate: IntervalOut | None = None
    windows: list[OverrideWindowOut]
    """The same per window."""


class RoiOut(BaseModel):
    """Treated versus control among decisions the policy would act on."""

    model_config = {"extra": "allow"}
    conclusion: Literal["uplift", "harm", "no_uplift", "inconclusive", "too_small", "unavailable"]
    message: str
    """The conclusion in a sentence, e.g. how many more control outcomes are needed."""
    uplift: IntervalOut | None = None
    value: IntervalOut | None = None
    needed_control_outcomes: int | None = None


class MonitoringOut(BaseModel):
    app: str
    window: Literal["hour", "day", "week"]
    since: str
    until: str
    generated_at: str
    outcome: dict[str, Any]
    counts: dict[str, Any]
    """Decisions, labelled decisions, ``would_act``, ``control``, ``outcomes_matched``,
    ``unmatched_outcomes`` by reason, ``labels_not_understood`` and decisions by
    ``model_versions``."""
    quality: QualitySectionOut
    overrides: OverridesOut
    roi: RoiOut
    drift: dict[str, Any] | None
    """Per-feature and score drift of each window against the reference data: ``windows``
    (status, flagged features, each feature's PSI, JS distance, ..., and ``attribution``: each
    feature's ``reference_share``, ``share``, ``share_change`` and ``status`` of the model's mean
    |SHAP|, the window's ``shift`` and ``status``, or ``null`` where not explained), ``latest``
    (the whole comparison of the latest window with decisions), ``attribution`` (rows explained
    per window, windows explained, method, and a ``note`` when there is no attribution drift),
    ``thresholds``; ``null`` when the spec names no reference data."""
