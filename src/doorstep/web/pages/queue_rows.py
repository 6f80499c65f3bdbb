"""What a row of the review queue shows a reviewer: the score and how far it is from the policy
threshold nearest to it, the top reason in a few words, and the inputs the spec marks
``show_in_queue``."""

from __future__ import annotations

from dataclasses import dataclass

from doorstep.core.masking import MASK
from doorstep.core.thresholds import nearest_threshold, score_thresholds
from doorstep.services.apps.registry import Registry
from doorstep.services.decide.what_if import format_value
from doorstep.store.views import QueueEntry
from doorstep.web.pages.templating import significant

__all__ = ["QueueRow", "queue_row"]


@dataclass(frozen=True)
class QueueRow:
    score: str
    """Three significant digits: ``0.597``."""
    distance: str
    """``0.003 below high risk`` (the nearest threshold of the policy), or empty."""
    reason: str
    """``Support tickets in the last 30 days: 7``, or empty when the case was not explained."""
    raises: bool
    """Whether the top reason raises the score."""
    inputs: list[tuple[str, str]]
    """``(label, value)`` of the fields marked ``show_in_queue``."""


def queue_row(registry: Registry, entry: QueueEntry, *, pii: bool = False) -> QueueRow:
    """A row of the queue; ``pii``: the role sees pii and sensitive values (else the top
    reason of such an input is shown without its value)."""
    score = significant(entry.score)
    app = registry.apps.get(entry.app)
    if app is None:
        return QueueRow(score, "", "", False, [])
    nearest = nearest_threshold(entry.score, score_thresholds(app.spec.policy))
    distance = ""
    if nearest is not None:
        decimals = len(score.partition(".")[2])
        gap = entry.score - nearest.value
        amount = f"{abs(gap):.{decimals}f}"
        if float(amount) == 0:
            distance = f"at {nearest.rule}"
        else:
            distance = f"{amount} {'below' if gap < 0 else 'above'} {nearest.rule}"
    reason, raises = "", False
    if entry.reasons:
        top = max(entry.reasons, key=lambda r: abs(float(r.get("effect") or 0)))
        field = app.spec.inputs.fields.get(str(top.get("feature")))
        value = MASK if not pii and field is not None and field.masked else top.get("value")
        reason = f"{top.get('label') or top.get('feature')}: {value}"
        raises = float(top.get("effect") or 0) > 0
    fields = app.spec.inputs.fields
    inputs = [
        (spec_field.label or name, format_value(entry.inputs.get(name), spec_field))
        for name, spec_field in fields.items()
        if spec_field.show_in_queue and not spec_field.masked
    ]
    return QueueRow(score, distance, reason, raises, inputs)
