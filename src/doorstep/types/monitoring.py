"""The monitoring report of an app: live quality per window and overall, human overrides, ROI
against the control group and drift, for the decisions made in a range of windows.

One object serves every reader: ``GET /v1/apps/{app}/monitoring`` and ``doorstep monitor
--json`` send :meth:`MonitoringReport.to_dict` (its shape is documented in
``docs/monitoring.md`` and by ``MonitoringOut`` in OpenAPI); the CLI, the HTML report, the
dashboard's panel and the alert planner read its attributes. Its parts reuse the results of
:mod:`doorstep.core.stats` (:class:`QualityReport`, :class:`RoiReport`, :class:`Interval`) and
the drift section of :mod:`doorstep.types.drift`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal, TypeAlias

from doorstep.core.stats.drift_report import Status, worst_status
from doorstep.core.stats.intervals import Interval
from doorstep.core.stats.quality_report import QualityReport
from doorstep.core.stats.quality_status import QualityThreshold
from doorstep.core.stats.roi_report import Conclusion, Goal, OutcomeKind, RoiReport
from doorstep.types.drift import DriftSection
from doorstep.types.estimation import EstimationSection
from doorstep.types.rejects import RejectsSection
from doorstep.types.versions import VersionsSection

if TYPE_CHECKING:
    from doorstep.core.stats.derived_threshold import DerivedThreshold

__all__ = [
    "Counts",
    "MonitoringReport",
    "OutcomeDescription",
    "OverrideJudgement",
    "OverrideWindow",
    "Overrides",
    "QualityOn",
    "QualitySection",
    "QualityWindow",
    "RoiConclusion",
    "RoiUnavailable",
    "Window",
]

Window: TypeAlias = str
"""A window size: ``hour``, ``day``, ``week``, ``month`` or ``N rows`` (``5000rows``)."""
"""The length of a report's windows (UTC; weeks start on Monday)."""
QualityOn: TypeAlias = Literal["all", "untreated"]
RoiConclusion: TypeAlias = Conclusion | Literal["unavailable"]


@dataclass(frozen=True, slots=True)
class OutcomeDescription:
    """What an outcome of the app means (the spec's ``monitoring.outcome`` with its defaults)."""

    kind: OutcomeKind
    """``label`` or ``value`` (``type`` in the JSON)."""
    field: str
    positive: str | None
    negative: str | None
    goal: Goal
    horizon_seconds: float

    def to_dict(self) -> dict[str, Any]:
        return {
            "type": self.kind,
            "field": self.field,
            "positive": self.positive,
            "negative": self.negative,
            "goal": self.goal,
            "horizon_seconds": self.horizon_seconds,
        }


@dataclass(frozen=True, slots=True)
class Counts:
    """What the range holds."""

    decisions: int
    labelled: int
    """Decisions with an outcome."""
    would_act: int
    """Decisions whose action is not ``none`` (the control group's included)."""
    control: int
    outcomes_matched: int
    unmatched_outcomes: Mapping[str, int]
    """Outcomes that belong to no decision, by reason, sorted."""
    labels_not_understood: int
    """Labelled decisions whose label the spec does not name (not measured)."""
    model_versions: Mapping[str, int]
    """Decisions by model version, sorted."""

    def to_dict(self) -> dict[str, Any]:
        return {
            "decisions": self.decisions,
            "labelled": self.labelled,
            "would_act": self.would_act,
            "control": self.control,
            "outcomes_matched": self.outcomes_matched,
            "unmatched_outcomes": dict(self.unmatched_outcomes),
            "labels_not_understood": self.labels_not_understood,
            "model_versions": dict(self.model_versions),
        }


def _with_statuses(
    out: dict[str, Any], report: QualityReport, statuses: Mapping[str, Status | None]
) -> dict[str, Any]:
    """Each metric's entry of ``out`` with its ``status`` (``null``: not judged)."""
    for name in report.metrics:
        out[name] = {**out[name], "status": statuses.get(name)}
    return out


@dataclass(frozen=True, slots=True)
class QualityWindow:
    """Live quality of one window's labelled decisions (no calibration table), each metric
    judged against the spec's thresholds (:mod:`doorstep.core.stats.quality_status`)."""

    start: datetime
    end: datetime
    quality: QualityReport
    statuses: Mapping[str, Status | None] = field(default_factory=dict)
    """Metric → ``ok``, ``warn``, ``alert``, ``insufficient_data``, or ``None`` (no threshold)."""
    status: Status | None = None
    """The worst status of the metrics with a threshold (``None``: no metric has one)."""

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"start": self.start.isoformat(), "end": self.end.isoformat()}
        out.update(self.quality.as_dict(calibration=False))
        out["status"] = self.status
        return _with_statuses(out, self.quality, self.statuses)


@dataclass(frozen=True, slots=True)
class QualitySection:
    """Live quality over the whole range (``total``, with calibration) and per window."""

    on: QualityOn
    """``untreated``: only decisions no action reached are measured."""
    threshold: float | None
    """The score at which a decision predicts positive (``None``: when the policy acts)."""
    total: QualityReport
    windows: tuple[QualityWindow, ...]
    thresholds: Mapping[str, QualityThreshold] = field(default_factory=dict)
    """The thresholds in force, by metric (``override_rate`` judges the overrides' windows)."""
    min_labelled: int | None = None
    """Labelled decisions a window needs before its metrics are judged (fewer:
    ``insufficient_data``)."""
    total_statuses: Mapping[str, Status | None] = field(default_factory=dict)
    """The whole range's metrics judged by the same rule."""
    derived: Mapping[str, DerivedThreshold] = field(default_factory=dict)
    """Thresholds derived from the reference, by metric (with a note when there is none)."""

    def thresholds_dict(self) -> dict[str, dict[str, Any]]:
        """The thresholds in force as JSON; a derived one says so in ``source``, with the
        reference windows' ``mean``, ``std``, ``k`` and count (``windows``)."""
        out = {name: t.as_dict() for name, t in self.thresholds.items()}
        for name, found in self.derived.items():
            out.setdefault(name, {"warn": None, "alert": None}).update(found.as_dict())
        return out

    @property
    def status(self) -> Status | None:
        """The worst status of the windows judged (:func:`worst_status`: ``insufficient_data``
        when none had enough outcomes, never ``ok``); ``None`` without thresholds."""
        judged = [w.status for w in self.windows if w.status is not None]
        if not any(name != "override_rate" for name in self.thresholds):
            return None
        return worst_status(judged)

    def to_dict(self) -> dict[str, Any]:
        return {
            "on": self.on,
            "threshold": self.threshold,
            "thresholds": self.thresholds_dict(),
            "min_labelled": self.min_labelled,
            "status": self.status,
            "total": _with_statuses(self.total.as_dict(), self.total, self.total_statuses),
            "windows": [w.to_dict() for w in self.windows],
        }


@dataclass(frozen=True, slots=True)
class OverrideJudgement:
    """Binary apps: overrides that flipped whether anything was done, whose outcome is known,
    and how many of them were right."""

    judged: int
    right: int
    right_rate: Interval

    def to_dict(self) -> dict[str, Any]:
        return {"judged": self.judged, "right": self.right, "right_rate": self.right_rate.as_dict()}


@dataclass(frozen=True, slots=True)
class OverrideWindow:
    """Reviews of one window's decisions (by decision time)."""

    start: datetime
    end: datetime
    reviewed: int
    overridden: int
    pending_review: int
    override_rate: Interval
    judgement: OverrideJudgement | None
    """Binary apps only."""
    status: Status | None = None
    """The override rate against ``monitoring.alerts.quality.override_rate`` (``None``: no
    threshold; ``insufficient_data``: too few verdicts)."""

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "start": self.start.isoformat(),
            "end": self.end.isoformat(),
            "reviewed": self.reviewed,
            "overridden": self.overridden,
            "pending_review": self.pending_review,
            "override_rate": {**self.override_rate.as_dict(), "status": self.status},
        }
        if self.judgement is not None:
            out.update(self.judgement.to_dict())
        return out


@dataclass(frozen=True, slots=True)
class Overrides:
    """Human overrides over the range, and per window."""

    reviewed: int
    overridden: int
    pending_review: int
    override_rate: Interval
    judgement: OverrideJudgement | None
    """Binary apps only."""
    windows: tuple[OverrideWindow, ...]

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "reviewed": self.reviewed,
            "overridden": self.overridden,
            "pending_review": self.pending_review,
            "override_rate": self.override_rate.as_dict(),
        }
        if self.judgement is not None:
            out.update(self.judgement.to_dict())
        out["windows"] = [w.to_dict() for w in self.windows]
        return out


@dataclass(frozen=True, slots=True)
class RoiUnavailable:
    """No ROI for this app, and why (a multiclass app without a positive class)."""

    message: str

    @property
    def conclusion(self) -> Literal["unavailable"]:
        return "unavailable"

    def as_dict(self) -> dict[str, Any]:
        """As :meth:`RoiReport.as_dict`, its alternative."""
        return {"conclusion": self.conclusion, "message": self.message}


@dataclass(frozen=True, slots=True)
class MonitoringReport:
    """The monitoring report of one app over ``[since, until)``, in windows of ``window``."""

    app: str
    window: Window
    since: datetime
    until: datetime
    generated_at: datetime
    outcome: OutcomeDescription
    counts: Counts
    quality: QualitySection
    overrides: Overrides
    roi: RoiReport | RoiUnavailable
    drift: DriftSection | None
    """``None`` without reference data (or when drift was not asked for)."""
    estimated: EstimationSection | None = None
    """Quality estimated before outcomes (``None`` as ``drift``; ``available: false`` with a
    note when the app or its reference cannot support it)."""
    rejects: RejectsSection | None = None
    """Records the input contract refused, per window (``None``: not counted)."""
    versions: VersionsSection | None = None
    """Champion against challenger and score drift per version (``None``: one version only,
    or not asked for)."""

    def to_dict(self) -> dict[str, Any]:
        """The report as JSON-ready data: what the API and ``doorstep monitor --json`` send."""
        return {
            "app": self.app,
            "window": self.window,
            "since": self.since.isoformat(),
            "until": self.until.isoformat(),
            "generated_at": self.generated_at.isoformat(),
            "outcome": self.outcome.to_dict(),
            "counts": self.counts.to_dict(),
            "quality": self.quality.to_dict(),
            "overrides": self.overrides.to_dict(),
            "roi": self.roi.as_dict(),
            "drift": None if self.drift is None else self.drift.to_dict(),
            "estimated": None if self.estimated is None else self.estimated.to_dict(),
            "rejects": None if self.rejects is None else self.rejects.to_dict(),
            "versions": None if self.versions is None else self.versions.to_dict(),
        }
