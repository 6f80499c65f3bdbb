"""A decision's page (``GET /decisions/{id}``) and what a reviewer does on it: claim, release,
and the verdict (approve, or override to another action or none, with a reason)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

import anyio.to_thread
from fastapi import Request
from starlette.responses import RedirectResponse, Response

from doorstep.core.masking import mask_reasons
from doorstep.core.reasons import effect_text
from doorstep.errors import DoorstepError, NotFoundError, RecordError, RecordsInvalidError
from doorstep.services.decide.history import find_decision
from doorstep.services.decide.trial import Trial, try_inputs
from doorstep.services.decide.what_if import format_value, what_would_change
from doorstep.services.review.case import decision_case
from doorstep.services.review.queue import claim_case, release_case
from doorstep.services.review.verdicts import (
    REASON_MAX_LENGTH,
    given_verdict,
    review_decision,
    undo_verdict,
)
from doorstep.store.views import DecisionCase
from doorstep.web.auth import PII_ROLES, actor_of
from doorstep.web.pages.access import form_of
from doorstep.web.pages.deliveries import CANCELLABLE, RETRYABLE
from doorstep.web.pages.queue import query_string
from doorstep.web.pages.templating import render
from doorstep.web.pages.what_if import hidden_fields, trial_context
from doorstep.web.problems import status_of
from doorstep.web.render import MASK

__all__ = ["claim", "decision_page", "release", "undo", "verdict", "what_if"]


def page_context(
    request: Request, case: DecisionCase, trial: Trial | None = None
) -> dict[str, Any]:
    """Everything the page shows; runs in a worker thread (the what-if batch)."""
    record = case.decision
    app = request.app.state.service.registry.apps.get(record.app)
    pii = request.state.key.role in PII_ROLES
    inputs: list[dict[str, Any]] = []
    what_if: list[dict[str, Any]] = []
    actions = ["none"]
    labels: dict[str, str] = {}
    tried: dict[str, Any] = {}
    if app is not None:
        tried = trial_context(request, app, record, trial)
        labels = {n: f.label or n for n, f in app.spec.inputs.fields.items()}
        actions += list(app.spec.actions)
        fields = app.spec.inputs.fields
        for name, spec_field in fields.items():
            value = record.inputs.get(name)
            hidden = spec_field.masked and not pii and value is not None
            inputs.append(
                {
                    "name": name,
                    "label": spec_field.label or name,
                    "value": MASK if hidden else format_value(value, spec_field),
                    "masked": hidden,
                }
            )
        for change in what_would_change(app, record):
            if fields[change.field].masked and not pii:
                continue  # a suggestion would name the hidden value
            what_if.append(
                {
                    "label": change.label,
                    "current": format_value(change.current, fields[change.field]),
                    "value": format_value(change.value, fields[change.field]),
                    "action": change.action,
                    "score": change.score,
                }
            )
    reasons: list[Any] = list(record.reasons or [])
    if app is not None and not pii:  # the values of sensitive inputs, as in the inputs above
        reasons = mask_reasons(reasons, {n for n, f in app.spec.inputs.fields.items() if f.masked})
    unit = None
    if app is not None and app.spec.model.task == "regression":
        unit = app.spec.explain.score_unit
    effects = [float(r.get("effect") or 0) for r in reasons]
    largest = max((abs(e) for e in effects), default=0.0) or 1.0
    bars = [
        {
            "label": r.get("label") or r.get("feature"),
            "value": r.get("value"),
            "effect": effect,
            "width": round(50 * abs(effect) / largest, 1),
            "points": effect_text(effect, unit),
            "sentence": r.get("sentence"),
        }
        for r, effect in zip(reasons, effects, strict=True)
    ]
    pending = record.status == "pending_review"
    return {
        "title": f"Decision {record.entity_id}",
        "record": record,
        "known_app": app is not None,
        "owner": app.spec.app.owner if app is not None else "",
        "score_label": app.spec.explain.score_label if app is not None else "score",
        "inputs": inputs,
        "bars": bars,
        "what_if": what_if,
        "actions": actions,
        "lineage": lineage_view(record.lineage, labels),
        "deliveries": case.deliveries,
        "version": case.model_version,
        "audit": case.audit,
        "review": case.review,
        "claim": case.claim,
        "pending": pending,
        "reason_max": REASON_MAX_LENGTH,
        "what_if_form": tried,
        "facts": []
        if app is None
        else [f.label or n for n, f in app.spec.feature_fields.items() if not f.actionable],
        "retryable": RETRYABLE,
        "cancellable": CANCELLABLE,
    }


def lineage_view(lineage: dict[str, Any] | None, labels: dict[str, str]) -> dict[str, Any] | None:
    """Where the decision's inputs came from, for the page: the fields of the request, and per
    source its fields, update time, age (``in the future`` for a negative one) and flags."""
    if not lineage:
        return None
    sources = []
    for name, entry in (lineage.get("sources") or {}).items():
        age = entry.get("age_seconds")
        sources.append(
            {
                "name": name,
                "fields": [labels.get(f, f) for f in entry.get("fields") or []],
                "observed_at": _moment(entry.get("observed_at")),
                "age": "—" if age is None else _age(float(age)),
                "stale": entry.get("stale"),
                "future": bool(entry.get("future")),
            }
        )
    request = [labels.get(f, f) for f in lineage.get("request") or []]
    imported = lineage.get("imported")
    history = None
    if imported:  # recorded as history (decisions import, or the API's decided_at)
        where = lineage.get("file") or {}
        if imported.get("api"):
            history = f"sent through the API by {imported['api']} with its decision time"
        else:
            history = f"imported from {where.get('name', 'a file')}, row {where.get('row', '?')}"
    return {"request": request, "sources": sources, "imported": history}


def _moment(text: Any) -> str:
    """An ISO time of the lineage as the pages write times (``2026-12-07 10:52 UTC``)."""
    if not text:
        return "—"
    try:
        moment = datetime.fromisoformat(str(text))
    except ValueError:
        return str(text)
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%d %H:%M UTC")


def _age(seconds: float) -> str:
    ahead = seconds < 0
    seconds = abs(seconds)
    if seconds < 3600:
        text = f"{seconds / 60:.0f} min"
    elif seconds < 86400:
        text = f"{seconds / 3600:.1f} h"
    else:
        text = f"{seconds / 86400:.1f} d"
    return f"{text} in the future" if ahead else text


async def show(
    request: Request,
    decision_id: str,
    *,
    error: DoorstepError | None = None,
    form: dict[str, str] | None = None,
    trial: Trial | None = None,
) -> Response:
    service = request.app.state.service

    done = _done_case(request.query_params.get("done", ""))

    def load() -> dict[str, Any]:
        context = page_context(request, decision_case(service.store, decision_id), trial)
        given = (
            given_verdict(service.registry, service.store, done, now=datetime.now(UTC))
            if done
            else None
        )
        context["given"] = given
        context["done_entity"] = given.entity_id if given is not None else ""
        context["this_verdict"] = (
            given_verdict(service.registry, service.store, decision_id, now=datetime.now(UTC))
            if context["review"] is not None and given is None
            else None
        )
        return context

    context = await anyio.to_thread.run_sync(load)
    context.update(
        {
            "query": query_string(request) if form is None else form.get("q", ""),
            "error": error,
            "form": form or {},
            "me": request.state.key.id,
            "done": done,
            "done_delivery": _done_delivery(request.query_params.get("done", "")),
            "undone": request.query_params.get("undone") == "1",
        }
    )
    return render(
        request, "decision.html", context, status=200 if error is None else status_of(error)
    )


def _done_case(done: str) -> str:
    """The case whose verdict was just given (``done`` after a verdict), not a delivery's
    change (``done=retried``)."""
    return "" if done in ("retried", "cancelled") else done


def _done_delivery(done: str) -> str:
    return done if done in ("retried", "cancelled") else ""


async def decision_page(request: Request, decision_id: str) -> Response:
    return await show(request, decision_id)


async def what_if(request: Request, decision_id: str) -> Response:
    """``GET /decisions/{id}/what-if?field=value…``: the decision's inputs with these values,
    decided again (nothing recorded). The result alone when htmx asks for it (``HX-Target:
    trial``), else the whole page with the result in its what-if section."""
    service = request.app.state.service
    record = await anyio.to_thread.run_sync(lambda: find_decision(service.store, decision_id))
    app = service.registry.apps.get(record.app) if record is not None else None
    if record is None or app is None:
        raise NotFoundError(f"There is no decision {decision_id!r} to try other values on.")
    edits = {k: v for k, v in request.query_params.items() if k in app.spec.inputs.fields}
    hidden = hidden_fields(request, app)
    trial = await anyio.to_thread.run_sync(lambda: try_inputs(app, record, edits, hidden=hidden))
    if request.headers.get("hx-target") == "trial":
        context = {"record": record, **trial_context(request, app, record, trial)}
        return render(request, "what_if_trial.html", context)
    return await show(request, decision_id, trial=trial)


async def _act(request: Request, decision_id: str, action: str) -> Response:
    service = request.app.state.service
    key = request.state.key
    form = await form_of(request)
    now = datetime.now(UTC)

    def run() -> None:
        if action == "claim":
            claim_case(service.store, decision_id, key_id=key.id, actor=actor_of(request), now=now)
        else:
            release_case(service.store, decision_id, key_id=key.id, now=now)

    try:
        await anyio.to_thread.run_sync(run)
    except DoorstepError as exc:
        if status_of(exc) == 500:
            raise
        return await show(request, decision_id, error=exc, form=form)
    query = form.get("q", "")
    return RedirectResponse(f"/decisions/{decision_id}" + (f"?{query}" if query else ""), 303)


async def claim(request: Request, decision_id: str) -> Response:
    return await _act(request, decision_id, "claim")


async def release(request: Request, decision_id: str) -> Response:
    return await _act(request, decision_id, "release")


async def verdict(request: Request, decision_id: str) -> Response:
    """Approve or override; then on to the next case of the queue (with the same filters)."""
    service = request.app.state.service
    form = await form_of(request)
    choice = form.get("verdict", "")

    def run() -> None:
        review_decision(
            service.registry,
            service.store,
            decision_id,
            verdict="override" if choice == "override" else "approve",
            reason=form.get("reason", ""),
            action=(form.get("action") or None) if choice == "override" else None,
            actor=actor_of(request),
            key_id=request.state.key.id,
        )

    try:
        _check_choice(decision_id, choice, form.get("case", ""))
        await anyio.to_thread.run_sync(run)
    except DoorstepError as exc:
        if status_of(exc) == 500:
            raise
        return await show(request, decision_id, error=exc, form=form)
    params = "&".join(p for p in (form.get("q", ""), urlencode({"done": decision_id})) if p)
    return RedirectResponse(f"/review/next?{params}", status_code=303)


async def undo(request: Request, decision_id: str) -> Response:
    """Take back the verdict just given on ``decision_id`` (within its undo window) and open
    the case again, back in the queue; a refusal (the window closed) is shown on the case."""
    service = request.app.state.service
    form = await form_of(request)
    try:
        await anyio.to_thread.run_sync(
            lambda: undo_verdict(service.store, decision_id, actor=actor_of(request))
        )
    except DoorstepError as exc:
        if status_of(exc) == 500:
            raise
        return await show(request, decision_id, error=exc, form=form)
    params = "&".join(p for p in (form.get("q", ""), "undone=1") if p)
    return RedirectResponse(f"/decisions/{decision_id}?{params}", status_code=303)


def _check_choice(decision_id: str, choice: str, case: str) -> None:
    """A verdict is recorded only when the reviewer chose approve or override on this case's
    page: the form carries the choice and the case it was made for (nothing is preselected)."""
    if choice not in ("approve", "override"):
        raise RecordsInvalidError(
            "Choose a verdict for this case first: approve (a), or override (o) with another "
            "action. Nothing was recorded.",
            [RecordError.of_field("verdict", "required", "verdict must be approve or override")],
        )
    if case != decision_id:
        raise RecordsInvalidError(
            f"This verdict was chosen for another case ({case or 'none named'}), not for "
            f"{decision_id}. Nothing was recorded; choose again on this case.",
            [RecordError.of_field("case", "allowed_values", f"case must be {decision_id}")],
        )
