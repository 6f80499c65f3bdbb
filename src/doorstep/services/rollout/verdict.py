"""The verdict of champion against challenger in one plain sentence, from the difference of
their headline metric and how many labelled decisions it rests on."""

from __future__ import annotations

import math

from doorstep.services.rollout.measures import Difference

__all__ = ["outcomes_needed", "verdict"]

_NAMES = {"auc": "AUC", "accuracy": "accuracy", "mae": "MAE"}


def outcomes_needed(difference: Difference, labelled: int, minimum: int) -> int | None:
    """About how many more labelled decisions the interval needs to exclude zero at the
    difference seen so far (its half-width shrinks as one over the square root of their
    number); ``None`` when it already does, or when no difference was seen at all."""
    if labelled < minimum:
        return minimum - labelled
    found = difference.difference
    if found.value is None or found.low is None or found.high is None:
        return None
    if found.excludes(0.0) or found.value == 0.0:
        return None
    half = (found.high - found.low) / 2.0
    total = labelled * (half / abs(found.value)) ** 2
    return max(1, math.ceil(total) - labelled)


def _amount(metric: str, value: float, *, sign: bool = False) -> str:
    if metric in ("auc", "accuracy"):
        return f"{value * 100:+.1f} points" if sign else f"{value * 100:.1f} points"
    return f"{value:+.4g}" if sign else f"{value:.4g}"


def verdict(
    difference: Difference | None,
    labelled: int,
    minimum: int,
    *,
    champion: str,
    challenger: str,
) -> str:
    """``"v2 is better by 3.1 points of AUC [1.2, 5.0]"``, ``"not enough outcomes yet: about
    N more needed"``, or that no difference shows yet."""
    if difference is None or labelled == 0:
        return f"Not enough outcomes yet: no decision with an outcome; about {minimum} needed."
    name = _NAMES.get(difference.metric, difference.metric)
    found = difference.difference
    needed = outcomes_needed(difference, labelled, minimum)
    if labelled < minimum or found.value is None or found.low is None or found.high is None:
        more = needed if needed is not None else minimum
        return (
            f"Not enough outcomes yet: {labelled} decisions with an outcome; about {more} "
            f"more needed to compare {name}."
        )
    if difference.metric in ("auc", "accuracy"):
        span = f"[{found.low * 100:.1f}, {found.high * 100:.1f}]"
    else:
        span = f"[{found.low:.4g}, {found.high:.4g}]"
    if found.excludes(0.0):
        better = (found.value > 0) == difference.higher_is_better
        word = "better" if better else "worse"
        amount = _amount(difference.metric, abs(found.value))
        return (
            f"{challenger} is {word} than {champion} by {amount}"
            f" of {name} {span} ({difference.method}, {labelled} decisions with an outcome)."
        )
    sentence = (
        f"No clear difference yet: {challenger} minus {champion} is "
        f"{_amount(difference.metric, found.value, sign=True)} of {name} {span} "
        f"({difference.method}, {labelled} decisions with an outcome)"
    )
    if needed is not None:
        sentence += f"; about {needed} more outcomes needed to tell a difference of this size"
    return sentence + "."
