"""The review queue: ``GET /review`` lists the cases, ``GET /review/next`` claims the next one
and opens it (the ``n`` key on the queue), ``POST /review/next`` skips the case it is posted
from and opens the one after it (the ``n`` key on a case)."""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from dataclasses import replace
from datetime import UTC, datetime
from urllib.parse import parse_qsl, urlencode

import anyio.to_thread
from fastapi import Request
from starlette.responses import RedirectResponse, Response

from doorstep.errors import ConflictError, RecordError, RecordsInvalidError
from doorstep.services.review.queue import (
    AGE_FILTERS,
    CLAIM_FILTERS,
    QueueFilters,
    claim_case,
    queue_page,
    sla_state,
)
from doorstep.services.review.queue import skip_case as record_skip
from doorstep.services.review.verdicts import given_verdict
from doorstep.web.auth import PII_ROLES, actor_of
from doorstep.web.pages.access import form_of
from doorstep.web.pages.queue_rows import queue_row
from doorstep.web.pages.templating import render

__all__ = ["checked_filters", "filters_of", "next_case", "review_queue", "skip_case"]

FILTER_NAMES = (
    "app",
    "action",
    "age",
    "score_min",
    "score_max",
    "order",
    "entity",
    "claim",
    "overdue",
)
SKIP_WINDOW = 500
"""How far down the queue ``n`` looks for the case after the one it skips."""


def _number(params: Mapping[str, str], name: str, problems: dict[str, str]) -> float | None:
    text = params.get(name, "").strip()
    if not text:
        return None
    try:
        value = float(text)
    except ValueError:
        value = None
    if value is None or not 0 <= value <= 1:
        problems[name] = f"{name} must be a number between 0 and 1, got {text!r}"
        return None
    return value


def checked_filters(
    params: Mapping[str, str], apps: Mapping[str, object]
) -> tuple[QueueFilters, dict[str, str]]:
    """The queue's filters in ``params`` (a request's query, or the ``q`` a form carries), and
    what is wrong with the ones that could not be used (field name → message): those are left
    out of the filters, and the page marks their fields."""
    problems: dict[str, str] = {}
    page = params.get("page", "1")
    app = params.get("app") or None
    if app is not None and app not in apps:
        problems["app"] = f"app must be one of {', '.join(apps) or 'no app'}, got {app!r}"
        app = None
    claim = params.get("claim", "")
    if claim not in CLAIM_FILTERS:
        problems["claim"] = f"claim must be mine or unclaimed, got {claim!r}"
        claim = ""
    filters = QueueFilters(
        app=app,
        action=params.get("action") or None,
        age=params.get("age", "") if params.get("age", "") in AGE_FILTERS else "",
        score_min=_number(params, "score_min", problems),
        score_max=_number(params, "score_max", problems),
        order="score" if params.get("order") == "score" else "oldest",
        page=int(page) if page.isdigit() and int(page) > 0 else 1,
        entity=params.get("entity", "").strip()[:200],
        claim=claim,
        overdue=params.get("overdue") == "1",
    )
    return filters, problems


def filters_of(params: Mapping[str, str], apps: Mapping[str, object]) -> QueueFilters:
    """The queue's filters in ``params``; raises :class:`RecordsInvalidError` naming every
    filter that is wrong."""
    filters, problems = checked_filters(params, apps)
    if problems:
        raise RecordsInvalidError(
            f"The queue's filter is invalid: {'; '.join(problems.values())}.",
            [RecordError.of_field(name, "type", text) for name, text in problems.items()],
        )
    return filters


def query_string(request: Request) -> str:
    """The queue's filters of this request, to carry from case to case."""
    return _kept(request.query_params)


def _kept(params: Mapping[str, str]) -> str:
    return urlencode({n: params[n] for n in FILTER_NAMES if params.get(n)})


async def review_queue(request: Request) -> Response:
    service = request.app.state.service
    key_id = request.state.key.id
    pii = request.state.key.role in PII_ROLES
    filters, problems = checked_filters(request.query_params, service.registry.apps)
    now = datetime.now(UTC)
    page = await anyio.to_thread.run_sync(
        lambda: queue_page(service.registry, service.store, filters, now=now, key_id=key_id)
    )
    done = request.query_params.get("done", "")
    given = (
        await anyio.to_thread.run_sync(
            lambda: given_verdict(service.registry, service.store, done, now=now)
        )
        if done
        else None
    )
    rows = [
        (
            entry,
            sla_state(service.registry, entry, now),
            queue_row(service.registry, entry, pii=pii),
        )
        for entry in page.items
    ]
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
            "problems": problems,
            "raw": request.query_params,
            "ages": list(AGE_FILTERS),
            "actions": actions,
            "query": query_string(request),
            "pages": pages,
            "empty": request.query_params.get("empty") == "1",
            "given": given,
            "me": key_id,
            "has_sla": any(app.spec.policy.review_sla_hours for app in service.registry),
        },
        status=422 if problems else 200,
    )


async def next_case(request: Request) -> Response:
    """Claim the first case of the queue (with its filters) nobody else works, and open it:
    a case this reviewer holds comes first, where it is in the queue."""
    params = request.query_params
    return await _open_next(request, params, skip=None, done=params.get("done", ""))


async def skip_case(request: Request) -> Response:
    """``n`` on a case: skip it (it goes back to the queue, unclaimed, and the skip is recorded
    in the audit trail) and open the case after it in the queue, wrapping round to the top;
    never the case skipped (with nothing else left, the queue says so)."""
    form = await form_of(request)
    params = dict(parse_qsl(form.get("q", "")))
    return await _open_next(request, params, skip=form.get("skip") or None, done="")


async def _open_next(
    request: Request, params: Mapping[str, str], *, skip: str | None, done: str
) -> Response:
    service = request.app.state.service
    key = request.state.key
    filters = filters_of(params, service.registry.apps)
    query = _kept(params)
    now = datetime.now(UTC)

    def pick() -> str | None:
        if skip is None:
            entries = queue_page(
                service.registry, service.store, filters, now=now, key_id=key.id
            ).items
        else:
            with contextlib.suppress(ConflictError):  # another's claim: theirs to release
                record_skip(service.store, skip, key_id=key.id, actor=actor_of(request), now=now)
            window = replace(filters, page=1, per_page=SKIP_WINDOW)
            queue = queue_page(
                service.registry, service.store, window, now=now, key_id=key.id
            ).items
            ids = [entry.id for entry in queue]
            at = ids.index(skip) if skip in ids else -1
            entries = queue[at + 1 :] + queue[: max(at, 0)]
        for entry in entries:
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
        params_out = "&".join(p for p in (query, urlencode({"empty": "1", **extra})) if p)
        return RedirectResponse(f"/review?{params_out}", status_code=303)
    params_out = "&".join(p for p in (query, urlencode(extra)) if p)
    return RedirectResponse(f"/decisions/{chosen}" + (f"?{params_out}" if params_out else ""), 303)
