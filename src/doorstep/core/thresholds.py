"""The score thresholds of a policy: where its rules compare ``score`` with a number.

Read from each rule's ``when`` (``score >= 0.6``, ``0.6 <= score``, ``score BETWEEN 0.4 AND
0.6``; other conditions of the rule are ignored), they are what the pages draw on a score bar
and measure a case against ("0.597 · 0.003 below high risk"). A rule whose ``when`` does not
parse has none (the spec check reports it).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

import sqlglot
from sqlglot import exp
from sqlglot.errors import ParseError, TokenError

from doorstep.core.spec.models import PolicySpec

__all__ = ["Threshold", "nearest_threshold", "score_thresholds"]

_FLIPPED: dict[type[exp.Expr], type[exp.Expr]] = {
    exp.GT: exp.LT,
    exp.GTE: exp.LTE,
    exp.LT: exp.GT,
    exp.LTE: exp.GTE,
}


@dataclass(frozen=True)
class Threshold:
    """A score a rule's condition turns on, with the rule's name and action."""

    value: float
    rule: str
    action: str


def score_thresholds(policy: PolicySpec) -> list[Threshold]:
    """Every ``score`` threshold of ``policy``'s rules, lowest first (one per rule and value)."""
    found: dict[tuple[float, str], Threshold] = {}
    for index, rule in enumerate(policy.rules):
        name = rule.name or f"rule {index + 1}"
        for value in _values(rule.when):
            found.setdefault((value, name), Threshold(value, name, rule.action))
    return sorted(found.values(), key=lambda t: (t.value, t.rule))


def nearest_threshold(score: float, thresholds: list[Threshold]) -> Threshold | None:
    """The threshold closest to ``score`` (the lower one on a tie), or ``None`` when none."""
    return min(thresholds, key=lambda t: (abs(score - t.value), t.value), default=None)


@cache
def _values(when: str) -> tuple[float, ...]:
    """The numbers ``score`` is compared with in ``when`` (parsed once per text)."""
    try:
        tree = sqlglot.parse_one(when)
    except (ParseError, TokenError):
        return ()
    values: list[float] = []
    for node in tree.walk():
        if isinstance(node, exp.Between) and _is_score(node.this):
            values += [
                v
                for v in (_number(node.args.get("low")), _number(node.args.get("high")))
                if v is not None
            ]
        elif type(node) in _FLIPPED:
            left, right = node.this, node.expression
            if _is_score(left) and (value := _number(right)) is not None:
                values.append(value)
            elif _is_score(right) and (value := _number(left)) is not None:
                values.append(value)
    return tuple(values)


def _is_score(node: exp.Expr | None) -> bool:
    return isinstance(node, exp.Column) and node.name.lower() == "score"


def _number(node: exp.Expr | None) -> float | None:
    negative = False
    if isinstance(node, exp.Neg):
        negative, node = True, node.this
    if isinstance(node, exp.Literal) and not node.is_string:
        try:
            value = float(node.this)
        except ValueError:
            return None
        return -value if negative else value
    return None
