"""The drift section of a monitoring report: each window of the range compared with the
reference data (a :class:`~doorstep.core.stats.drift_report.DriftReport` per window with
decisions), the thresholds in force, and how attribution drift was measured.

A window's JSON keeps a summary of each column (:data:`SUMMARY`); the latest window with
decisions also carries its whole comparison (``latest.report``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from doorstep.core.stats.drift_report import (
    RANK,
    AttributionDrift,
    ColumnDrift,
    DriftReport,
    DriftThresholds,
    FeatureKind,
    ReconstructionDrift,
    Status,
    worst_status,
)

__all__ = ["SUMMARY", "AttributionSetup", "AttributionSummary", "DriftSection", "DriftWindow"]

SUMMARY = (
    "status", "psi", "js_distance", "wasserstein_norm", "missing_rate", "out_of_range_rate",
    "unseen_rate",
)  # fmt: skip
"""What each window's JSON keeps of a column; ``latest.report`` keeps everything."""


@dataclass(frozen=True, slots=True)
class AttributionSetup:
    """How attribution drift was measured: reference rows explained and the method, or a
    ``note`` saying why it was not."""

    rows: int
    """Decisions explained per window (0: none)."""
    windows: int
    """The latest windows with decisions that are explained."""
    method: str | None
    note: str | None
    reference_rows: int | None = None
    """Reference rows explained (``None``: the profile carries no explainer; not in the JSON)."""

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "rows": self.rows,
            "windows": self.windows,
            "method": self.method,
            "note": self.note,
        }
        if self.reference_rows is not None:
            out["reference_rows"] = self.reference_rows
        return out


@dataclass(frozen=True, slots=True)
class AttributionSummary:
    """Each feature's share of the model's attention in one explained window."""

    features: tuple[AttributionDrift, ...]
    shift: float | None
    """Half the sum of the share changes (total variation distance)."""

    @property
    def status(self) -> Status:
        """The worst measured feature's (:func:`worst_status`): ``insufficient_data`` when no
        feature has enough rows."""
        return worst_status(a.status for a in self.features)

    @property
    def flagged(self) -> list[str]:
        """Features at ``warn`` or worse."""
        return [a.feature for a in self.features if RANK.get(a.status, -1) >= RANK["warn"]]

    def to_dict(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "shift": self.shift,
            "flagged": self.flagged,
            "features": {
                a.feature: {
                    "reference_share": a.reference_share,
                    "share": a.share,
                    "share_change": a.share_change,
                    "status": a.status,
                }
                for a in self.features
            },
        }


@dataclass(frozen=True, slots=True)
class DriftWindow:
    """One window of the range: its comparison with the reference, or ``None`` without
    decisions."""

    start: datetime
    end: datetime
    report: DriftReport | None
    multivariate: ReconstructionDrift | None = None
    """Multivariate drift (PCA reconstruction error), when the reference has two inputs or
    more to rebuild from."""

    @property
    def rows(self) -> int:
        return self.report.rows if self.report is not None else 0

    @property
    def status(self) -> Status:
        """The worst of the inputs', the score's and the multivariate status."""
        if self.report is None:
            return "insufficient_data"
        if self.multivariate is None:
            return self.report.status
        return worst_status((self.report.status, self.multivariate.status))

    @property
    def flagged(self) -> list[str]:
        """Features at ``warn`` or worse."""
        return self.report.flagged("warn") if self.report is not None else []

    @property
    def alerted(self) -> list[str]:
        """Features at ``alert``."""
        return self.report.flagged("alert") if self.report is not None else []

    @property
    def features(self) -> tuple[ColumnDrift, ...]:
        return self.report.features if self.report is not None else ()

    @property
    def score(self) -> ColumnDrift | None:
        return self.report.score if self.report is not None else None

    def column(self, name: str) -> ColumnDrift | None:
        """Feature ``name`` in this window (``None``: no decisions, or not compared)."""
        return next((c for c in self.features if c.name == name), None)

    @property
    def attribution(self) -> AttributionSummary | None:
        """Attention shares, or ``None`` when the window was not explained."""
        if self.report is None or not self.report.attributions:
            return None
        return AttributionSummary(self.report.attributions, self.report.attribution_shift)

    def to_dict(self, *, full: bool = False) -> dict[str, Any]:
        """The window's summary; with ``full``, its whole comparison under ``report`` too."""
        out: dict[str, Any] = {
            "start": self.start.isoformat(),
            "end": self.end.isoformat(),
            "rows": self.rows,
            "status": self.status,
            "flagged": self.flagged,
            "alerted": self.alerted,
        }
        out["multivariate"] = None if self.multivariate is None else self.multivariate.to_dict()
        if self.report is None:
            out["attribution"] = None
            return out
        whole = self.report.to_dict()  # non-finite numbers become None
        score = whole["score"]
        out["score"] = None if score is None else {k: score[k] for k in SUMMARY if k in score}
        out["features"] = {c["name"]: {k: c[k] for k in SUMMARY} for c in whole["features"]}
        attribution = self.attribution
        out["attribution"] = None if attribution is None else attribution.to_dict()
        if full:
            out["report"] = whole
        return out


@dataclass(frozen=True, slots=True)
class DriftSection:
    """Drift of every window of the range against the reference data."""

    features: Mapping[str, FeatureKind]
    """The inputs compared, with their kind."""
    reference_rows: int
    thresholds: DriftThresholds
    attribution: AttributionSetup
    windows: tuple[DriftWindow, ...]

    @property
    def status(self) -> Status:
        """The worst status of the windows measured (:func:`worst_status`): windows with too
        few rows or no decisions count for nothing, and a range with no window measured is
        ``insufficient_data``, never ``ok``."""
        return worst_status(w.status for w in self.windows)

    @property
    def measured(self) -> int:
        """Windows with a drift status of their own (not ``insufficient_data``)."""
        return sum(1 for w in self.windows if w.status != "insufficient_data")

    @property
    def unmeasured(self) -> int:
        """Windows with decisions, but too few rows for a status (shown beside the status)."""
        return sum(1 for w in self.windows if w.rows and w.status == "insufficient_data")

    @property
    def latest(self) -> DriftWindow | None:
        """The latest window with decisions."""
        return next((w for w in reversed(self.windows) if w.report is not None), None)

    def to_dict(self) -> dict[str, Any]:
        latest = self.latest
        return {
            "features": dict(self.features),
            "reference_rows": self.reference_rows,
            "thresholds": self.thresholds.as_dict(),
            "status": self.status,
            "attribution": self.attribution.to_dict(),
            "windows": [w.to_dict() for w in self.windows],
            "latest": None if latest is None else latest.to_dict(full=True),
        }
