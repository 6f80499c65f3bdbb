"""What champion against challenger returns: per version its decisions, override rate, quality
overall and per window, ROI against its control group (or, for a shadow, the expected value of
its actions), and the difference of the headline metric with a verdict."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from doorstep.core.stats.quality_report import QualityReport
from doorstep.core.stats.roi_report import RoiReport
from doorstep.services.rollout.measures import Difference, ExpectedValue

__all__ = ["Comparison", "Mode", "VersionSide", "VersionWindow"]

Mode = Literal["canary", "shadow"]
Role = Literal["champion", "canary", "shadow"]


@dataclass(frozen=True)
class VersionWindow:
    start: datetime
    end: datetime
    quality: QualityReport

    def as_dict(self) -> dict[str, Any]:
        return {
            "start": self.start.isoformat(),
            "end": self.end.isoformat(),
            "quality": self.quality.as_dict(calibration=False),
        }


@dataclass(frozen=True)
class VersionSide:
    """One version over the range."""

    version: str
    role: Role
    decisions: int
    """Its decisions (a shadow: its shadow rows)."""
    acting: int
    reviewed: int
    """Decisions given a verdict (a shadow: those it would have sent to review)."""
    overridden: int
    labelled: int
    quality: QualityReport | None
    windows: tuple[VersionWindow, ...]
    roi: RoiReport | None
    """Against its own control group (champion and canary)."""
    expected_value: ExpectedValue | None

    @property
    def override_rate(self) -> float | None:
        if self.role == "shadow" or not self.reviewed:
            return None
        return self.overridden / self.reviewed

    def as_dict(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "role": self.role,
            "decisions": self.decisions,
            "acting": self.acting,
            "reviewed": self.reviewed,
            "overridden": self.overridden,
            "override_rate": self.override_rate,
            "labelled": self.labelled,
            "quality": None if self.quality is None else self.quality.as_dict(calibration=False),
            "windows": [w.as_dict() for w in self.windows],
            "roi": None if self.roi is None else self.roi.as_dict(),
            "expected_value": None
            if self.expected_value is None
            else self.expected_value.as_dict(),
        }


@dataclass(frozen=True)
class Comparison:
    app: str
    window: str
    since: datetime
    until: datetime
    mode: Mode | None
    """``shadow``: both scored the same decisions (paired); ``canary``: each its own."""
    champion: VersionSide
    challenger: VersionSide | None
    others: tuple[str, ...]
    """Other versions seen in the range, not compared here (name one with ``challenger``)."""
    difference: Difference | None
    verdict: str

    def as_dict(self) -> dict[str, Any]:
        return {
            "app": self.app,
            "window": self.window,
            "since": self.since.isoformat(),
            "until": self.until.isoformat(),
            "mode": self.mode,
            "champion": self.champion.as_dict(),
            "challenger": None if self.challenger is None else self.challenger.as_dict(),
            "others": list(self.others),
            "difference": None if self.difference is None else self.difference.as_dict(),
            "verdict": self.verdict,
        }
