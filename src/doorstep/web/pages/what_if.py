"""What the decision page's what-if shows: the inputs a person may change, and the score,
action and reasons they would get (see :func:`doorstep.web.pages.decision.what_if`), with the
policy's score thresholds drawn on a score bar."""

from __future__ import annotations

from typing import Any

from fastapi import Request

from doorstep.core.masking import mask_reasons
from doorstep.core.reasons import effect_text
from doorstep.core.thresholds import score_thresholds
from doorstep.services.apps.loading import LoadedApp
from doorstep.services.decide.trial import Trial, editable_fields
from doorstep.types import Decision
from doorstep.web.auth import PII_ROLES
from doorstep.web.pages.templating import significant

__all__ = ["hidden_fields", "score_bar", "trial_context"]

BAR_WIDTH = 400
"""Width of the score bar's drawing (SVG user units; it scales to its box)."""


def score_bar(app: LoadedApp, score: float) -> dict[str, Any] | None:
    """The score on a 0–1 bar with the policy's thresholds (classifiers only)."""
    if app.spec.model.task == "regression" or not 0 <= score <= 1:
        return None
    ticks = [
        {"x": round(t.value * BAR_WIDTH, 1), "value": significant(t.value, 2), "rule": t.rule}
        for t in score_thresholds(app.spec.policy)
        if 0 <= t.value <= 1
    ]
    text = ", ".join(f"{t['rule']} at {t['value']}" for t in ticks) or "none"
    return {
        "x": round(score * BAR_WIDTH, 1),
        "score": significant(score),
        "ticks": ticks,
        "width": BAR_WIDTH,
        "label": f"Score {significant(score)} on a scale from 0 to 1; thresholds: {text}",
    }


def hidden_fields(request: Request, app: LoadedApp) -> frozenset[str]:
    """Personal data and sensitive attributes a role without need may not see, so may not edit
    either (the form would show their values)."""
    if request.state.key.role in PII_ROLES:
        return frozenset()
    return frozenset(n for n, f in app.spec.inputs.fields.items() if f.masked)


def trial_context(
    request: Request, app: LoadedApp, record: Decision, trial: Trial | None
) -> dict[str, Any]:
    """What the what-if section shows: the fields to edit and the result (the decision's own
    when nothing was tried)."""
    hidden = hidden_fields(request, app)
    fields = editable_fields(app, record, hidden=hidden)
    values = dict(record.inputs) if trial is None else trial.inputs
    score = record.score if trial is None else trial.score
    reasons: list[Any] = list(record.reasons or []) if trial is None else list(trial.reasons)
    if request.state.key.role not in PII_ROLES:  # values of pii and sensitive inputs
        reasons = mask_reasons(reasons, {n for n, f in app.spec.inputs.fields.items() if f.masked})
    unit = app.spec.explain.score_unit if app.spec.model.task == "regression" else None
    return {
        "fields": fields,
        "values": values,
        "trial": {
            "tried": trial is not None and bool(trial.changed),
            "score": significant(score),
            "action": record.action if trial is None else trial.action,
            "rule": record.rule if trial is None else trial.rule,
            "changed": [] if trial is None else trial.changed,
            "problems": {} if trial is None else trial.problems,
            "reasons": [
                {
                    "sentence": r.get("sentence"),
                    "points": effect_text(float(r.get("effect") or 0), unit),
                }
                for r in reasons
            ],
            "bar": score_bar(app, score),
        },
    }
