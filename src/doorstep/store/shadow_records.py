"""Shadow decisions as records: what another model version decided on a recorded decision
(see ``shadow.py`` for how they are written and read)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from doorstep.types import Decision, Reason

__all__ = ["ShadowDecision", "VersionCounts", "shadow_of"]


@dataclass(frozen=True)
class ShadowDecision:
    """What the shadow version ``model_version`` decided on decision ``decision_id``."""

    decision_id: str
    app: str
    entity_id: str
    model_version: str
    model_hash: str
    score: float
    action: str
    rule: str | None
    review: bool
    control: bool
    reasons: list[Reason] | None
    created_at: datetime
    predicted_class: str | None = None


def shadow_of(decision: Decision, decision_id: str) -> ShadowDecision:
    """The shadow row of ``decision`` (the shadow version's own decision on the same record)
    attached to the recorded decision ``decision_id``."""
    return ShadowDecision(
        decision_id=decision_id,
        app=decision.app,
        entity_id=decision.entity_id,
        model_version=decision.model_version,
        model_hash=decision.model_hash,
        score=float(decision.score),
        action=decision.action,
        rule=decision.rule,
        review=bool(decision.review),
        control=bool(decision.control),
        reasons=decision.reasons,
        created_at=decision.created_at,
        predicted_class=decision.predicted_class,
    )


@dataclass(frozen=True)
class VersionCounts:
    """A version's decisions in a range: all, acting, reviewed (a verdict given), overridden."""

    model_version: str
    decisions: int
    acting: int
    reviewed: int
    overridden: int
