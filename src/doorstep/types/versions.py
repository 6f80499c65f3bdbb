"""The monitoring report's section on model versions: when the app has a challenger (a shadow
or a canary) or more than one version decided in the range, the champion against the
challenger (the JSON of ``doorstep models compare``) and the score distribution of each version
against the champion's and against the reference data's (the drift statistics of
:mod:`doorstep.core.stats.drift`)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from doorstep.core.stats.drift_report import ColumnDrift, Status, worst_status

__all__ = ["SCORE_SUMMARY", "VersionScoreDrift", "VersionsSection"]

SCORE_SUMMARY = (
    "status", "rows", "reference_rows", "psi", "js_distance", "ks_statistic", "ks_pvalue",
    "wasserstein_norm",
)  # fmt: skip
"""What the JSON keeps of each comparison of scores."""


@dataclass(frozen=True, slots=True)
class VersionScoreDrift:
    """One version's scores (a shadow: its shadow rows' scores) in the range."""

    version: str
    role: str
    """``champion``, ``canary``, ``shadow``, or ``other`` (a version that decided in the
    range but is at none of those stages now)."""
    scores: int
    against_champion: ColumnDrift | None
    """``None`` for the champion itself, or when either has no score in the range."""
    against_reference: ColumnDrift | None
    """``None`` without reference data."""

    @property
    def status(self) -> Status:
        return worst_status(
            c.status for c in (self.against_champion, self.against_reference) if c is not None
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "role": self.role,
            "scores": self.scores,
            "status": self.status,
            "against_champion": _summary(self.against_champion),
            "against_reference": _summary(self.against_reference),
        }


@dataclass(frozen=True, slots=True)
class VersionsSection:
    """The champion, its challenger and every version's score drift."""

    champion: str
    comparison: Mapping[str, Any]
    """Champion against challenger as ``doorstep models compare --json`` prints it."""
    verdict: str
    drift: tuple[VersionScoreDrift, ...]

    @property
    def challenger(self) -> str | None:
        side = self.comparison.get("challenger")
        return None if side is None else str(side["version"])

    def to_dict(self) -> dict[str, Any]:
        return {
            "champion": self.champion,
            "challenger": self.challenger,
            "verdict": self.verdict,
            "comparison": dict(self.comparison),
            "drift": [d.to_dict() for d in self.drift],
        }


def _summary(column: ColumnDrift | None) -> dict[str, Any] | None:
    if column is None:
        return None
    out: dict[str, Any] = {}
    for key in SCORE_SUMMARY:
        value = getattr(column, key)
        out[key] = None if isinstance(value, float) and not math.isfinite(value) else value
    return out
