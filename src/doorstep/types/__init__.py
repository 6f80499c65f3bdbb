"""The vocabulary of doorstep, written down once (see DESIGN.md, "Concepts").

- decisions: :class:`Decision`, :class:`Reason`, :data:`DECISION_SCHEMA` and
  :data:`REJECT_SCHEMA` (:mod:`.decisions`);
- monitoring: :class:`MonitoringReport` and its parts (:mod:`.monitoring`), its drift section
  (:mod:`.drift`), and the results of :mod:`doorstep.core.stats` they are made of
  (:class:`QualityReport`, :class:`RoiReport`, :class:`DriftReport`, :class:`Interval`, ...),
  named here too so a reader finds the whole vocabulary in one place.

``from doorstep.types import X`` works for every name of ``__all__``.
"""

from __future__ import annotations

from doorstep.core.stats.drift_report import (
    AttributionDrift,
    Check,
    ColumnDrift,
    DriftReport,
    DriftThresholds,
    Level,
    Status,
    Threshold,
)
from doorstep.core.stats.intervals import Interval
from doorstep.core.stats.quality_report import (
    CalibrationBin,
    QualityMetric,
    QualityReport,
    Task,
)
from doorstep.core.stats.roi_report import ActionRoi, Conclusion, RoiGroup, RoiReport
from doorstep.types.decisions import (
    DECISION_SCHEMA,
    REJECT_SCHEMA,
    Decision,
    DecisionStatus,
    Reason,
)
from doorstep.types.drift import AttributionSetup, AttributionSummary, DriftSection, DriftWindow
from doorstep.types.monitoring import (
    Counts,
    MonitoringReport,
    OutcomeDescription,
    OverrideJudgement,
    Overrides,
    OverrideWindow,
    QualityOn,
    QualitySection,
    QualityWindow,
    RoiConclusion,
    RoiUnavailable,
    Window,
)

__all__ = [
    "DECISION_SCHEMA",
    "REJECT_SCHEMA",
    "ActionRoi",
    "AttributionDrift",
    "AttributionSetup",
    "AttributionSummary",
    "CalibrationBin",
    "Check",
    "ColumnDrift",
    "Conclusion",
    "Counts",
    "Decision",
    "DecisionStatus",
    "DriftReport",
    "DriftSection",
    "DriftThresholds",
    "DriftWindow",
    "Interval",
    "Level",
    "MonitoringReport",
    "OutcomeDescription",
    "OverrideJudgement",
    "OverrideWindow",
    "Overrides",
    "QualityMetric",
    "QualityOn",
    "QualityReport",
    "QualitySection",
    "QualityWindow",
    "Reason",
    "RoiConclusion",
    "RoiGroup",
    "RoiReport",
    "RoiUnavailable",
    "Status",
    "Task",
    "Threshold",
    "Window",
]
