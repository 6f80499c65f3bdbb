"""Pydantic models that document the outcome and monitoring routes in OpenAPI (responses are
built as plain data: the monitoring report is :meth:`doorstep.types.MonitoringReport.to_dict`;
these describe their shape, and ``tests/web/test_openapi_responses.py`` holds live answers to
them). See ``docs/monitoring.md``."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel

from doorstep.web.drift_schemas import DriftOut
from doorstep.web.estimation_schemas import EstimatedOut
from doorstep.web.schemas import RecordError

__all__ = [
    "CalibrationBinOut",
    "IntervalOut",
    "MetricOut",
    "MonitoringOut",
    "RejectRuleOut",
    "RejectsOut",
    "RejectsWindowOut",
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


Judged = Literal["ok", "warn", "alert", "insufficient_data"]


class MetricOut(IntervalOut):
    """A quality metric of a window (or the whole range) with its 95% interval and its status
    against the spec's threshold (``monitoring.alerts.quality``): ``insufficient_data`` when
    the window has fewer than ``min_labelled`` labelled decisions or no value, ``null`` when
    the metric has no threshold."""

    status: Judged | None = None


class QualityThresholdOut(BaseModel):
    """A metric's ``warn`` and ``alert`` levels; breached at or beyond them in the worse
    ``direction``."""

    warn: float | None
    alert: float | None
    direction: Literal["lower_is_worse", "higher_is_worse"]
    source: Literal["spec", "reference"] = "spec"
    """``reference``: derived from the reference (``from_reference: true``)."""
    mean: float | None = None
    """Derived: the metric's mean over the reference windows."""
    std: float | None = None
    """Derived: its population standard deviation over them."""
    k: float | None = None
    """Derived: standard deviations to ``alert`` (``warn`` at ``k - 1``)."""
    windows: int | None = None
    """Derived: reference windows measured."""
    size: int | None = None
    """Derived: rows per reference window."""
    note: str | None = None
    """Derived: why there is no threshold (an insufficient reference)."""


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

    task: Literal["binary", "regression", "multiclass"]
    labelled: int
    """Labelled decisions measured."""
    enough: bool
    """At least ``monitoring.min_samples.quality`` of them."""
    start: str | None = None
    """Windows only."""
    end: str | None = None
    status: Judged | None = None
    """Windows only: the worst status of the metrics with a threshold (``null``: none has
    one)."""
    positives: int | None = None
    auc: MetricOut | None = None
    precision: MetricOut | None = None
    recall: MetricOut | None = None
    brier: MetricOut | None = None
    positive_rate: MetricOut | None = None
    calibration: list[CalibrationBinOut] | None = None
    mae: MetricOut | None = None
    rmse: MetricOut | None = None
    mean_error: MetricOut | None = None
    """Prediction minus outcome."""
    accuracy: MetricOut | None = None


class QualitySectionOut(BaseModel):
    on: Literal["all", "untreated"]
    threshold: float | None
    thresholds: dict[str, QualityThresholdOut] = {}
    """The spec's quality thresholds in force, by metric (``override_rate`` judges
    ``overrides.windows``)."""
    min_labelled: int | None = None
    """Labelled decisions a window needs before its metrics are judged."""
    status: Judged | None = None
    """The worst status of the windows (``insufficient_data`` when none could be judged;
    ``null`` without thresholds)."""
    total: QualityOut
    windows: list[QualityOut]


class OverrideWindowOut(BaseModel):
    """Reviews of one window's decisions (by decision time)."""

    start: str
    end: str
    reviewed: int
    overridden: int
    pending_review: int
    override_rate: MetricOut
    """With its status against ``monitoring.alerts.quality.override_rate``."""
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


class RoiGroupOut(BaseModel):
    """A group's decisions with an outcome: ``outcome_rate`` (labels) or ``mean_outcome``
    (values), with its interval."""

    outcomes: int
    outcome_rate: IntervalOut | None = None
    mean_outcome: IntervalOut | None = None


class ActionRoiOut(BaseModel):
    treated: RoiGroupOut
    control: RoiGroupOut
    uplift: IntervalOut
    taken: int
    value_per_outcome: float | None
    cost_per_action: float


class PowerOut(BaseModel):
    """The test the needed control outcomes are computed for."""

    alpha: float
    power: float


class RoiOut(BaseModel):
    """Treated versus control among decisions the policy would act on (``unavailable``: only
    ``conclusion`` and ``message``)."""

    conclusion: Literal["uplift", "harm", "no_uplift", "inconclusive", "too_small", "unavailable"]
    message: str
    """The conclusion in a sentence, e.g. how many more control outcomes are needed."""
    outcome: Literal["label", "value"] | None = None
    goal: Literal["decrease", "increase"] | None = None
    treated: RoiGroupOut | None = None
    control: RoiGroupOut | None = None
    uplift: IntervalOut | None = None
    value: IntervalOut | None = None
    actions_taken: int | None = None
    cost: float | None = None
    needed_control_outcomes: int | None = None
    power: PowerOut | None = None
    actions: dict[str, ActionRoiOut] | None = None
    """The same per action."""


class OutcomeOut(BaseModel):
    """What an outcome of the app means."""

    type: Literal["label", "value"]
    field: str
    positive: str | None
    negative: str | None
    goal: Literal["decrease", "increase"]
    horizon_seconds: float


class CountsOut(BaseModel):
    decisions: int
    labelled: int
    """Decisions with an outcome."""
    would_act: int
    control: int
    outcomes_matched: int
    unmatched_outcomes: dict[str, int]
    """By reason."""
    labels_not_understood: int
    model_versions: dict[str, int]
    """Decisions by model version."""


class RejectRuleOut(BaseModel):
    field: str | None
    rule: str
    count: int
    records: int


class RejectsWindowOut(BaseModel):
    start: str
    end: str
    decided: int
    rejected: int
    rate: float | None
    rules: list[RejectRuleOut]


class RejectsOut(BaseModel):
    decided: int
    rejected: int
    rate: float | None
    windows: list[RejectsWindowOut]


class MonitoringOut(BaseModel):
    app: str
    window: str
    since: str
    until: str
    generated_at: str
    outcome: OutcomeOut
    counts: CountsOut
    quality: QualitySectionOut
    overrides: OverridesOut
    roi: RoiOut
    drift: DriftOut | None
    """``null`` when the spec names no reference data."""
    estimated: EstimatedOut | None = None
    """Quality estimated before outcomes; ``null`` as ``drift``."""
    rejects: RejectsOut | None = None
    """Records the input contract refused, per window: ``decided``, ``rejected`` (records),
    ``rate`` (rejected / arrived) and ``rules`` (per field and rule: ``count`` broken rules,
    ``records`` distinct records)."""
    versions: dict[str, Any] | None = None
    """Champion against challenger (``comparison``: the JSON of ``doorstep models compare``,
    with its ``verdict``) and each version's score drift against the champion's and the
    reference's; ``null`` with one version only and no challenger (as in ``doorstep monitor``)."""
