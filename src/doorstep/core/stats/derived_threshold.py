"""A quality threshold derived from the reference (see
:mod:`doorstep.core.stats.reference_thresholds`, which derives it): its levels, the reference
windows' mean and spread, or why there is none. Kept free of numpy, as the report types hold
it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from doorstep.core.stats.quality_status import Direction, QualityThreshold

__all__ = ["DerivedThreshold"]


@dataclass(frozen=True)
class DerivedThreshold:
    """A metric's threshold derived from ``windows`` reference windows of ``size`` rows, or
    (``threshold`` ``None``) the ``note`` saying why there is none."""

    metric: str
    direction: Direction
    k: float
    size: int
    windows: int
    mean: float | None
    std: float | None
    threshold: QualityThreshold | None
    note: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "source": "reference",
            "direction": self.direction,
            "mean": self.mean,
            "std": self.std,
            "k": self.k,
            "windows": self.windows,
            "size": self.size,
            "note": self.note,
        }
