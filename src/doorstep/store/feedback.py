"""What the store records and reads back about outcomes (light: no SQLAlchemy).

An **outcome** is what really happened after a decision, keyed by the decision's id or by the
entity's id. Keyed by entity, it belongs to the entity's latest decision made before it was
observed, within the app's outcome horizon. Outcomes that belong to no decision are kept, with
the reason (:data:`UNMATCHED_REASONS`), and counted in reports.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import timedelta

from doorstep.types import Outcome

__all__ = [
    "LABELLED_COLUMNS",
    "TRAINING_COLUMNS",
    "UNMATCHED_REASONS",
    "FeedbackCounts",
    "WindowCounts",
    "OutcomeRowError",
    "OutcomeWrite",
    "OutcomesRecorded",
]

UNMATCHED_REASONS: dict[str, str] = {
    "no_decision": "the entity has no decision in this app",
    "outside_horizon": "the entity has decisions, but none within the horizon before the outcome",
    "unknown_decision": "no decision of this app has this id",
    "before_decision": "the outcome was observed before its decision was made",
}
"""Why an outcome belongs to no decision."""

LABELLED_COLUMNS = (
    "id", "created_us", "score", "predicted_class", "action", "final_action", "status",
    "control", "review", "label", "value",
)  # fmt: skip
"""Columns of the rows :meth:`Store.iter_labelled` yields: decisions with their latest
outcome. ``created_us`` is the decision's time in microseconds since the Unix epoch (UTC),
computed by the database: cheaper to read in bulk than datetimes."""

TRAINING_COLUMNS = (
    "decision_id", "entity_id", "created_at", "model_version", "inputs", "score",
    "predicted_class", "action", "rule", "review", "control", "status", "final_action",
    "review_verdict", "reviewed_at", "outcome_label", "outcome_value", "outcome_observed_at",
    "outcome_matched_by",
)  # fmt: skip
"""Columns of the rows :meth:`Store.iter_training_rows` yields."""


@dataclass(frozen=True)
class OutcomeWrite:
    """A batch of outcomes of one app, matched and recorded in one transaction."""

    app: str
    outcomes: list[Outcome]
    horizon: timedelta
    source: str
    """Where they came from, e.g. ``api`` or ``file:outcomes.csv``."""


@dataclass(frozen=True)
class OutcomeRowError:
    """An outcome refused by the store (e.g. it contradicts one recorded before)."""

    row: int
    field: str
    rule: str
    message: str


@dataclass
class OutcomesRecorded:
    """What a write did. Every input is counted once: recorded (matched or not), duplicate, or
    refused with an error."""

    recorded: int = 0
    matched: int = 0
    unmatched: Counter[str] = field(default_factory=Counter)
    """Recorded outcomes that belong to no decision, by reason."""
    unmatched_rows: list[tuple[int, str]] = field(default_factory=list)
    """The row of each recorded outcome that belongs to no decision, with the reason."""
    duplicates: int = 0
    """Outcomes recorded before with the same key, time and label or value: nothing written."""
    errors: list[OutcomeRowError] = field(default_factory=list)
    audit_seq: int | None = None
    """The ``outcomes.recorded`` event of this write (none when nothing was recorded)."""

    def add(self, other: OutcomesRecorded) -> None:
        self.recorded += other.recorded
        self.matched += other.matched
        self.unmatched.update(other.unmatched)
        self.unmatched_rows.extend(other.unmatched_rows)
        self.duplicates += other.duplicates
        self.errors.extend(other.errors)
        self.audit_seq = other.audit_seq or self.audit_seq


@dataclass(frozen=True)
class FeedbackCounts:
    """Decisions and outcomes of an app in a time range (decisions by their time)."""

    decisions: int
    labelled: int
    """Decisions with at least one outcome."""
    would_act: int
    """Decisions whose action is not ``none`` (treated and control)."""
    control: int
    reviewed: int
    """Decisions with a verdict (approved or overridden)."""
    overridden: int
    pending_review: int
    outcomes_matched: int
    """Outcomes of the range's decisions."""
    unmatched: dict[str, int]
    """Unmatched outcomes of the app observed in the range, by reason."""


@dataclass(frozen=True)
class WindowCounts:
    """Decisions of one window (its index from the range's start) and one model version, with
    their reviews: what the monitoring report shows per window beside live quality."""

    window: int
    model_version: str
    decisions: int
    reviewed: int
    """Decisions with a verdict (approved or overridden)."""
    overridden: int
    pending_review: int
