"""Reasons shown to roles without need: a reason about an input marked ``pii`` or ``sensitive``
keeps its feature, label and effect (what drove the score stays readable) but not the value,
in ``value`` nor in its sentence ("Region: ***, raises churn risk by 3 points")."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from typing import Any

__all__ = ["MASK", "mask_reasons"]

MASK = "***"


def mask_reasons(
    reasons: Sequence[Mapping[str, Any]], hidden: Collection[str]
) -> list[dict[str, Any]]:
    """``reasons`` with the value of each reason whose feature is in ``hidden`` replaced by
    :data:`MASK`, in ``value`` and in ``sentence`` (copies; the others as they are)."""
    out: list[dict[str, Any]] = []
    for reason in reasons:
        copy = dict(reason)
        if reason.get("feature") in hidden:
            value = str(reason.get("value") or "")
            sentence = str(reason.get("sentence") or "")
            label = str(reason.get("label") or reason.get("feature"))
            said = f"{label}: {value},"
            if sentence.startswith(said):
                sentence = f"{label}: {MASK}," + sentence[len(said) :]
            elif value:  # a sentence in another shape: no trace of the value either way
                sentence = sentence.replace(value, MASK)
            copy["value"], copy["sentence"] = MASK, sentence
        out.append(copy)
    return out
