"""The review queue: ``GET /review`` lists the cases, ``GET /review/next`` claims the next one
and opens it (the ``n`` key)."""

from __future__ import annotations

from datetime import UTC, datetime
from urllib.parse import urlencode

import anyio.to_thread
from fastapi import Request
from starlette.responses import RedirectResponse, Response

from doorstep.errors import ConflictError, RecordError, RecordsInvalidError
from doorstep.services.review.queue import (
    AGE_FILTERS,
    QueueFilters,
    claim_case,
    queue_page,
    sla_state,
)
from doorstep.web.auth import actor_of
from doorstep.web.pages.templating import render

__all__ = ["filters_of", "next_case", "review_queue"]

FILTER_NAMES = ("app", "action", "age", "score_min", "score_max", "order")


def _number(request: Request, name: str) -> float | None:
    text = request.query_params.get(name, "").strip()
    if not text:
        return None
    try:
        value = float(text)
    except ValueError:
        message = f"{name} must be a number between 0 and 1, got {text!r}"
        raise RecordsInvalidError(
            f"The queue's filter is invalid: {message}.",
            [RecordError.of_field(name, "type", message)],
        ) from None
    return value


def filters_of(request: Request) -> QueueFilters:
    params = request.query_params
    page = params.get("page", "1")
    return QueueFilters(
        app=params.get("app") or None,
        action=params.get("action") or None,
        age=params.get("age", "") if params.get("age", "") in AGE_FILTERS else "",
        score_min=_number(request, "score_min"),
        score_max=_number(request, "score_max"),
        order="score" if params.get("order") == "score" else "oldest",
        page=int(page) if page.isdigit() and int(page) > 0 else 1,
    )


def query_string(request: Request) -> str:
    """The queue's filters of this request, to carry from case to case."""
    kept = {n: request.query_params[n] for n in FILTER_NAMES if request.query_params.get(n)}
    return urlencode(kept)


async def review_queue(request: Request) -> Response:
    service = request.app.state.service
    filters = filters_of(request)
    now = datetime.now(UTC)
    page = await anyio.to_thread.run_sync(
        lambda: queue_page(service.registry, service.store, filters, now=now)
    )
    rows = [(entry, sla_state(service.registry, entry, now)) for entry in page.items]
    actions = sorted({a for app in service.registry for a in ["none", *app.spec.actions]})
    pages = max(1, -(-page.total // filters.per_page))
    return render(
        request,
        "queue.html",
        {
            "title": "Review queue",
            "rows": rows,
            "total": page.total,
            "filters": filters,
            "ages": list(AGE_FILTERS),
            "actions": actions,
            "query": query_string(request),
            "pages": pages,
            "empty": request.query_params.get("empty") == "1",
            "done": request.query_params.get("done", ""),
            "me": request.state.key.id,
        },
    )


async def next_case(request: Request) -> Response:
    """Claim the first case of the queue (with its filters) nobody else works, and open it."""
    service = request.app.state.service
    key = request.state.key
    filters = filters_of(request)
    query = query_string(request)
    done = request.query_params.get("done", "")
    now = datetime.now(UTC)

    def pick() -> str | None:
        page = queue_page(service.registry, service.store, filters, now=now)
        for entry in page.items:
            if entry.claim is not None and entry.claim.key_id != key.id:
                continue
            try:
                claim_case(service.store, entry.id, key_id=key.id, actor=actor_of(request), now=now)
            except ConflictError:  # taken or decided meanwhile: the next one
                continue
            return entry.id
        return None

    chosen = await anyio.to_thread.run_sync(pick)
    extra = {"done": done} if done else {}
    if chosen is None:
        params = "&".join(p for p in (query, urlencode({"empty": "1", **extra})) if p)
        return RedirectResponse(f"/review?{params}", status_code=303)
    params = "&".join(p for p in (query, urlencode(extra)) if p)
    return RedirectResponse(f"/decisions/{chosen}" + (f"?{params}" if params else ""), 303)
