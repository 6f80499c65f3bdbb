"""An app's deliveries (``GET /apps/{app}/deliveries``): each action on its way to a connector,
its state and its attempts with the target's answers, filtered by state, connector or decision;
owners and admins retry (``POST /deliveries/{id}/retry``) or cancel
(``POST /deliveries/{id}/cancel``) one, here or on the decision's page. The changes are
:mod:`doorstep.services.deliver.operations`' (the API's and the CLI's), audited alike."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qsl, quote, urlencode

import anyio.to_thread
from fastapi import Request
from starlette.responses import RedirectResponse, Response

from doorstep.errors import ConflictError, DoorstepError, InputError
from doorstep.services.decide.history import find_decision
from doorstep.services.deliver import operations as outbox
from doorstep.types import DELIVERY_STATES
from doorstep.web.auth import actor_of
from doorstep.web.pages.access import form_of, local_path
from doorstep.web.pages.templating import render
from doorstep.web.problems import status_of

__all__ = ["cancel", "deliveries_page", "open_delivery", "retry"]

PAGE_SIZE = 50
FILTERS = ("state", "connector", "decision")
RETRYABLE = frozenset({"dead", "cancelled"})
CANCELLABLE = frozenset({"held", "pending", "dead"})


def _filters(app: Any, params: Mapping[str, str]) -> tuple[dict[str, str], dict[str, str]]:
    """The filters asked for, and a message per field that is not valid (the field is marked
    on the page; the list then shows every delivery rather than none)."""
    chosen = {name: params.get(name, "").strip() for name in FILTERS}
    problems: dict[str, str] = {}
    if chosen["state"] and chosen["state"] not in DELIVERY_STATES:
        problems["state"] = f"State must be one of {', '.join(DELIVERY_STATES)}."
    if chosen["connector"] and chosen["connector"] not in app.spec.connectors:
        names = ", ".join(app.spec.connectors) or "none"
        problems["connector"] = f"{app.name} has no connector {chosen['connector']!r} ({names})."
    for name in problems:
        chosen[name] = ""
    return chosen, problems


async def deliveries_page(request: Request, app: str) -> Response:
    return await show(request, app)


async def show(request: Request, app: str, *, error: DoorstepError | None = None) -> Response:
    """The page; after a refused retry or cancel (``error``), the app's whole list with it."""
    service = request.app.state.service
    loaded = service.registry.get(app)
    params = dict(request.query_params)
    chosen, problems = _filters(loaded, params)
    cursor = params.get("cursor") or None

    def load() -> dict[str, Any]:
        page = outbox.list_deliveries(
            service.store,
            app=loaded.name,
            state=chosen["state"] or None,
            connector=chosen["connector"] or None,
            decision_id=chosen["decision"] or None,
            cursor=cursor,
            limit=PAGE_SIZE,
            attempts=True,
        )
        entities = {}
        for decision_id in {d.decision_id for d in page.items if d.decision_id}:
            record = find_decision(service.store, decision_id)
            entities[decision_id] = record.entity_id if record is not None else decision_id
        return {
            "page": page,
            "entities": entities,
            "counts": outbox.delivery_counts(service.store, loaded.name),
            "disabled": outbox.connector_states(service.store, loaded.name),
        }

    try:
        data = await anyio.to_thread.run_sync(load)
    except InputError as exc:  # a cursor that is not one of ours
        problems["cursor"] = exc.message
        cursor = None
        data = await anyio.to_thread.run_sync(load)
    kept = {k: v for k, v in chosen.items() if v}
    older = None
    if data["page"].next_cursor is not None:
        older = "?" + urlencode({**kept, "cursor": data["page"].next_cursor})
    return render(
        request,
        "deliveries.html",
        {
            "title": f"{loaded.name} deliveries",
            "app": loaded.name,
            "connectors": list(loaded.spec.connectors),
            "states": DELIVERY_STATES,
            "chosen": chosen,
            "problems": problems,
            "filtered": bool(kept),
            "older": older,
            "newest": f"{request.url.path}?{urlencode(kept)}" if kept else request.url.path,
            "first_page": cursor is None,
            "back": _without_done(request.url.path, request.url.query) if error is None else "",
            "error": error,
            "done": params.get("done", ""),
            "retryable": RETRYABLE,
            "cancellable": CANCELLABLE,
            **data,
        },
        status=200 if error is None else status_of(error),
    )


async def _change(request: Request, delivery_id: str, verb: str) -> Response:
    """Retry or cancel one delivery, then back to the page the button was on."""
    store = request.app.state.service.store
    form = await form_of(request)
    back = local_path(form.get("back"), "")
    reason = form.get("reason") or None

    def run() -> str:
        info = outbox.get_delivery(store, delivery_id)  # 404 when there is none
        change = outbox.retry_deliveries if verb == "retry" else outbox.cancel_deliveries
        changes = change(store, [delivery_id], actor=actor_of(request), reason=reason)
        state = changes.skipped.get(delivery_id)
        if state is not None:
            allowed = "dead or cancelled" if verb == "retry" else "held, pending or dead"
            raise ConflictError(
                f"The {info.action} delivery to {info.connector} is {state} now: only {allowed} "
                f"deliveries can be {'retried' if verb == 'retry' else 'cancelled'}. Nothing "
                "was changed."
            )
        return info.app

    try:
        app = await anyio.to_thread.run_sync(run)
    except DoorstepError as exc:
        if status_of(exc) in (404, 500):
            raise
        info = await anyio.to_thread.run_sync(outbox.get_delivery, store, delivery_id)
        response = await show(request, info.app, error=exc)
        response.headers["HX-Replace-Url"] = f"/apps/{quote(info.app, safe='')}/deliveries"
        return response
    done = "retried" if verb == "retry" else "cancelled"
    path, _, query = (back or f"/apps/{quote(app, safe='')}/deliveries").partition("?")
    target = _without_done(path, query)
    joiner = "&" if "?" in target else "?"
    return RedirectResponse(f"{target}{joiner}{urlencode({'done': done})}", status_code=303)


def _without_done(path: str, query: str) -> str:
    """``path?query`` less the banner of a change made before (``done``)."""
    kept = urlencode([(k, v) for k, v in parse_qsl(query) if k != "done"])
    return path + (f"?{kept}" if kept else "")


async def retry(request: Request, delivery_id: str) -> Response:
    return await _change(request, delivery_id, "retry")


async def cancel(request: Request, delivery_id: str) -> Response:
    return await _change(request, delivery_id, "cancel")


async def open_delivery(request: Request, delivery_id: str) -> Response:
    """``GET`` on a retry or cancel button's address (a reload after a refusal, a copied
    address): the delivery on its app's deliveries page, never a 405."""
    store = request.app.state.service.store
    info = await anyio.to_thread.run_sync(outbox.get_delivery, store, delivery_id)
    query = f"?{urlencode({'decision': info.decision_id})}" if info.decision_id else ""
    return RedirectResponse(f"/apps/{quote(info.app, safe='')}/deliveries{query}", 303)
