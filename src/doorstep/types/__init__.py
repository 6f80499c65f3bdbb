"""The vocabulary of doorstep, written down once (see DESIGN.md, "Concepts").

- the concepts of DESIGN.md: :class:`Decision` (with its :class:`DecisionStatus` and
  :class:`Reason` s), :class:`Review`, :class:`Delivery` (with its :class:`DeliveryAttempt` s),
  :class:`Outcome`, :class:`AuditEvent` (:mod:`.concepts`);
- monitoring: :class:`MonitoringReport` and its parts (:mod:`.monitoring`), its drift section
  (:mod:`.drift`), and the results of :mod:`doorstep.core.stats` they are made of
  (:class:`QualityReport`, :class:`RoiReport`, :class:`DriftReport`, :class:`Interval`, ...),
  named here too so a reader finds the whole vocabulary in one place.

``from doorstep.types import X`` works for every name of ``__all__``. Nothing here loads a
columnar or numerical library: the command line imports it at start-up, and a report computed
in a child process is unpickled without them.
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
from doorstep.types.concepts import (
    DELIVERY_STATES,
    AuditEvent,
    Decision,
    DecisionStatus,
    Delivery,
    DeliveryAttempt,
    DeliveryState,
    Outcome,
    Reason,
    Review,
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
    "DELIVERY_STATES",
    "ActionRoi",
    "AttributionDrift",
    "AttributionSetup",
    "AttributionSummary",
    "AuditEvent",
    "CalibrationBin",
    "Check",
    "ColumnDrift",
    "Conclusion",
    "Counts",
    "Decision",
    "DecisionStatus",
    "Delivery",
    "DeliveryAttempt",
    "DeliveryState",
    "DriftReport",
    "DriftSection",
    "DriftThresholds",
    "DriftWindow",
    "Interval",
    "Level",
    "MonitoringReport",
    "Outcome",
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
    "Review",
    "RoiConclusion",
    "RoiGroup",
    "RoiReport",
    "RoiUnavailable",
    "Status",
    "Task",
    "Threshold",
    "Window",
]
