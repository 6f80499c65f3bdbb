"""The refused records of a monitoring report: per window, how many records the input contract
refused against how many were decided, and which fields and rules refused them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

__all__ = ["RejectRule", "RejectsSection", "RejectsWindow"]


@dataclass(frozen=True, slots=True)
class RejectRule:
    """Broken rules of one field (``None``: the record as a whole, e.g. not JSON)."""

    field: str | None
    rule: str
    count: int
    records: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "field": self.field,
            "rule": self.rule,
            "count": self.count,
            "records": self.records,
        }


@dataclass(frozen=True, slots=True)
class RejectsWindow:
    """One window: ``rejected`` records refused, ``decided`` decisions, and ``rate`` the share
    of what arrived that was refused (``None`` when nothing arrived)."""

    start: datetime
    end: datetime
    decided: int
    rejected: int
    rules: tuple[RejectRule, ...]

    @property
    def arrived(self) -> int:
        return self.decided + self.rejected

    @property
    def rate(self) -> float | None:
        return self.rejected / self.arrived if self.arrived else None

    def to_dict(self) -> dict[str, Any]:
        return {
            "start": self.start.isoformat(),
            "end": self.end.isoformat(),
            "decided": self.decided,
            "rejected": self.rejected,
            "rate": self.rate,
            "rules": [r.to_dict() for r in self.rules],
        }


@dataclass(frozen=True, slots=True)
class RejectsSection:
    """Refused records per window, oldest first, and over the whole range."""

    windows: tuple[RejectsWindow, ...]

    @property
    def rejected(self) -> int:
        return sum(w.rejected for w in self.windows)

    @property
    def decided(self) -> int:
        return sum(w.decided for w in self.windows)

    @property
    def rate(self) -> float | None:
        arrived = self.rejected + self.decided
        return self.rejected / arrived if arrived else None

    def latest(self) -> RejectsWindow | None:
        return self.windows[-1] if self.windows else None

    def to_dict(self) -> dict[str, Any]:
        return {
            "decided": self.decided,
            "rejected": self.rejected,
            "rate": self.rate,
            "windows": [w.to_dict() for w in self.windows],
        }
