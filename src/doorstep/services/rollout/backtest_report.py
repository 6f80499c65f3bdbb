"""What a backtest returns: both models' decisions over the replayed range side by side, the
flips between them, quality and expected value on the decisions with outcomes, and a verdict."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from doorstep.core.stats.quality_report import QualityReport
from doorstep.services.rollout.measures import Difference, ExpectedValue

__all__ = ["BacktestReport", "BacktestSide", "Flip"]


@dataclass(frozen=True)
class BacktestSide:
    """One model over the replayed decisions: the champion as recorded, or the candidate."""

    versions: Mapping[str, int]
    """Model versions that made these decisions, with their counts (the candidate: one)."""
    actions: Mapping[str, int]
    acting: int
    review: int
    control: int
    quality: QualityReport | None
    expected_value: ExpectedValue | None

    def as_dict(self) -> dict[str, Any]:
        return {
            "versions": dict(self.versions),
            "actions": dict(self.actions),
            "acting": self.acting,
            "review": self.review,
            "control": self.control,
            "quality": None if self.quality is None else self.quality.as_dict(calibration=False),
            "expected_value": None
            if self.expected_value is None
            else self.expected_value.as_dict(),
        }


@dataclass(frozen=True)
class Flip:
    """A decision whose action the candidate would change, with both models' top reasons."""

    decision_id: str
    entity_id: str
    created_at: datetime
    champion_action: str
    candidate_action: str
    champion_score: float
    candidate_score: float
    champion_reasons: tuple[str, ...]
    candidate_reasons: tuple[str, ...]

    def as_dict(self) -> dict[str, Any]:
        return {
            "decision_id": self.decision_id,
            "entity_id": self.entity_id,
            "created_at": self.created_at.isoformat(),
            "champion": {
                "action": self.champion_action,
                "score": self.champion_score,
                "reasons": list(self.champion_reasons),
            },
            "candidate": {
                "action": self.candidate_action,
                "score": self.candidate_score,
                "reasons": list(self.candidate_reasons),
            },
        }


@dataclass(frozen=True)
class BacktestReport:
    """Stored decisions of ``[since, until)`` replayed through the candidate model."""

    app: str
    candidate_version: str
    since: datetime | None
    until: datetime | None
    decisions: int
    """Decisions replayed (their recorded inputs decided again)."""
    not_replayed: int
    """Stored decisions whose inputs no longer pass the input contract."""
    not_replayed_examples: tuple[str, ...]
    flips: int
    transitions: Mapping[tuple[str, str], int]
    """(champion action, candidate action) → decisions, both the same included."""
    champion: BacktestSide
    candidate: BacktestSide
    labelled: int
    difference: Difference | None
    verdict: str
    sample: tuple[Flip, ...]

    def as_dict(self) -> dict[str, Any]:
        return {
            "app": self.app,
            "candidate_version": self.candidate_version,
            "since": None if self.since is None else self.since.isoformat(),
            "until": None if self.until is None else self.until.isoformat(),
            "decisions": self.decisions,
            "not_replayed": self.not_replayed,
            "not_replayed_examples": list(self.not_replayed_examples),
            "flips": self.flips,
            "flip_rate": self.flips / self.decisions if self.decisions else None,
            "transitions": [
                {"champion": a, "candidate": b, "decisions": n}
                for (a, b), n in sorted(self.transitions.items())
            ],
            "champion": self.champion.as_dict(),
            "candidate": self.candidate.as_dict(),
            "labelled": self.labelled,
            "difference": None if self.difference is None else self.difference.as_dict(),
            "verdict": self.verdict,
            "sample": [flip.as_dict() for flip in self.sample],
        }
