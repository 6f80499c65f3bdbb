"""The status of a live quality metric in one window: ``ok``, ``warn`` or ``alert`` against the
spec's thresholds, or ``insufficient_data``: the one rule the monitoring report, the CLI, the
HTML report, the dashboard's panel and the alert planner all judge by.

**The rule.** A metric of a window is ``insufficient_data`` when the window has fewer than
``minimum`` labelled decisions (reviewed ones for the override rate) or the metric has no value
(an AUC needs both outcomes; precision needs a predicted positive). Otherwise, with a threshold,
it is ``alert`` at or beyond ``alert``, ``warn`` at or beyond ``warn``, else ``ok`` ("beyond":
at or below where lower is worse, as AUC; at or above where higher is worse, as the Brier
score). Without a threshold it is not judged (``None``): a number nobody set a limit for is not
``ok``, it is unjudged.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal, TypeAlias

from doorstep.core.stats.drift_report import Level, Status

__all__ = ["Direction", "QualityThreshold", "quality_status"]

Direction: TypeAlias = Literal["lower_is_worse", "higher_is_worse"]


@dataclass(frozen=True, slots=True)
class QualityThreshold:
    """The ``warn`` and ``alert`` levels of one metric (either may be ``None``)."""

    warn: float | None
    alert: float | None
    direction: Direction

    def crossed(self, value: float, limit: float | None) -> bool:
        """Whether ``value`` is at or beyond ``limit`` (in the worse direction)."""
        if limit is None:
            return False
        return value >= limit if self.direction == "higher_is_worse" else value <= limit

    def level(self, value: float) -> Level:
        if self.crossed(value, self.alert):
            return "alert"
        if self.crossed(value, self.warn):
            return "warn"
        return "ok"

    def as_dict(self) -> dict[str, Any]:
        return {"warn": self.warn, "alert": self.alert, "direction": self.direction}


def quality_status(
    value: float | None, count: int, minimum: int, threshold: QualityThreshold | None
) -> Status | None:
    """The status of a metric measured on ``count`` decisions (see the module docstring)."""
    if value is None or value != value or count < minimum:
        return "insufficient_data"
    if threshold is None:
        return None
    return threshold.level(value)
