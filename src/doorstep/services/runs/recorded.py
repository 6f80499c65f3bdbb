"""Decisions imported as they were made (``doorstep decisions import --as-recorded``): the score
and, when given, the action come from the file's columns instead of the app's model and policy.

The recorded values are checked row by row, like inputs, and a row that breaks a rule is
rejected naming its row, column and rule (the other rows are recorded):

- ``recorded_score``: the score is missing, not a number, not finite, or — for a binary
  classifier, whose score is the probability of the positive class — outside [0, 1]. A
  regression's score may be any finite number. A multiclass app's decisions carry one score per
  class, which a file column cannot give: such apps are refused before anything is read.
- ``recorded_action``: the action is missing or is not one the policy can choose (a rule's
  action or the default).

The policy still runs on the recorded score (so the rule, the review band and the control group
are the app's); a recorded action replaces the policy's (the decision names no rule when they
differ). None is explained. The decision's lineage says which columns it was recorded from
(``imported.recorded``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import polars as pl

from doorstep.core.contract import ROW_COLUMN
from doorstep.errors import InputError
from doorstep.services.apps.loading import LoadedApp

__all__ = [
    "RecordedColumns",
    "RecordedValues",
    "check_recordable",
    "policy_actions",
    "recorded_values",
]

Reject = tuple[int, str | None, str, str, str | None, str]
"""One reject row: row, entity id, field, rule, value, message (``REJECT_SCHEMA``'s order)."""


@dataclass(frozen=True)
class RecordedColumns:
    """The file's columns holding each decision's recorded score and (optionally) action."""

    score: str
    action: str | None = None


@dataclass(frozen=True)
class RecordedValues:
    """The checked recorded values of a chunk's valid rows (in their order), and the rows they
    reject."""

    keep: pl.Series
    """Which of the valid rows have good recorded values (a boolean mask)."""
    scores: pl.Series
    actions: pl.Series | None
    rejects: list[Reject]


def policy_actions(app: LoadedApp) -> list[str]:
    """The actions the app's policy can choose: its rules' actions and its default, in order."""
    policy = app.spec.policy
    return list(dict.fromkeys([*(rule.action for rule in policy.rules), policy.default]))


def check_recordable(app: LoadedApp) -> None:
    """Refuse an app whose decisions a file's score column cannot give (multiclass)."""
    if app.classes:
        raise InputError(
            f"app {app.name!r} is a multiclass classifier: its decisions carry one score per "
            "class, which a recorded score column cannot give; import its decisions without "
            "--as-recorded (each is decided again by the model)"
        )


def recorded_values(
    app: LoadedApp, chunk: pl.DataFrame, valid: pl.DataFrame, columns: RecordedColumns, offset: int
) -> RecordedValues:
    """Check the recorded score and action of each of ``valid``'s rows (rows of ``chunk``,
    numbered from ``offset + 1``)."""
    positions = [row - 1 - offset for row in valid[ROW_COLUMN].to_list()]
    entity_field = app.spec.inputs.id
    entities = valid[entity_field].cast(pl.String).to_list()
    raw_scores = chunk[columns.score].gather(positions)
    numbers = raw_scores.cast(pl.Float64, strict=False).to_list()
    texts = raw_scores.cast(pl.String, strict=False).to_list()
    binary = app.spec.model.task == "binary"
    allowed = policy_actions(app)
    actions = (
        chunk[columns.action].cast(pl.String, strict=False).gather(positions).to_list()
        if columns.action is not None
        else None
    )
    keep: list[bool] = []
    rejects: list[Reject] = []
    for index, row in enumerate(valid[ROW_COLUMN].to_list()):
        entity = entities[index]
        where = f"row {row} ({entity_field}={entity})" if entity is not None else f"row {row}"
        problems = [
            (columns.score, "recorded_score", texts[index], problem)
            for problem in [_score_problem(numbers[index], texts[index], binary)]
            if problem is not None
        ]
        if actions is not None:
            problem = _action_problem(actions[index], allowed)
            if problem is not None:
                problems.append((columns.action or "", "recorded_action", actions[index], problem))
        for field, rule, value, problem in problems:
            rejects.append((row, entity, field, rule, value, f"{where}: {field}: {problem}"))
        keep.append(not problems)
    mask = pl.Series("keep", keep, dtype=pl.Boolean)
    scores = pl.Series("score", numbers, dtype=pl.Float64).filter(mask)
    kept_actions = (
        pl.Series("action", actions, dtype=pl.String).filter(mask) if actions is not None else None
    )
    return RecordedValues(mask, scores, kept_actions, rejects)


def _score_problem(number: float | None, text: Any, binary: bool) -> str | None:
    if number is None:
        return "the recorded score is missing" if text is None else f"{text!r} is not a number"
    if not math.isfinite(number):
        return f"the recorded score {text!r} is not a finite number"
    if binary and not 0.0 <= number <= 1.0:
        return (
            f"the recorded score {number!r} is outside [0, 1] (a binary classifier's score is "
            "the probability of the positive class)"
        )
    return None


def _action_problem(action: str | None, allowed: list[str]) -> str | None:
    if action is None or not action.strip():
        return "the recorded action is missing"
    if action not in allowed:
        return f"{action!r} is not an action of the policy (expected one of: {', '.join(allowed)})"
    return None
