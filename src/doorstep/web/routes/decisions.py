"""``/v1/apps/{app}/decisions``, ``/v1/decisions/{id}`` and reviews."""

from __future__ import annotations

from datetime import UTC, datetime
from enum import Enum
from typing import Annotated

from fastapi import FastAPI, Header, Query, Request
from fastapi.responses import JSONResponse, Response
from fastapi.routing import APIRoute

from doorstep.errors import BackfillDeniedError, RecordError, RecordsInvalidError
from doorstep.services.decide import history
from doorstep.services.decide.backfill import parse_decided_at
from doorstep.services.deliver.operations import list_deliveries
from doorstep.services.review.verdicts import review_decision, undo_verdict
from doorstep.store.protocols import DecisionQuery
from doorstep.web.auth import GuardedRoute, actor_of, key_id_of, role_of, sees_pii
from doorstep.web.openapi import documented
from doorstep.web.render import decision_view
from doorstep.web.schemas import (
    DECISIONS_BODY,
    PROBLEMS,
    BatchResponse,
    DecisionOut,
    DecisionPageOut,
    ReviewIn,
    StoredDecisionOut,
)
from doorstep.web.service import DecisionService

MAX_IDEMPOTENCY_KEY = 255
IdempotencyKey = Annotated[
    str | None, Header(max_length=MAX_IDEMPOTENCY_KEY, alias="Idempotency-Key")
]


def _service(request: Request) -> DecisionService:
    service: DecisionService = request.app.state.service
    return service


async def post_decisions(request: Request) -> Response:
    """The hot path, served as a plain Starlette route: FastAPI's dependency solving and
    parameter validation cost more per request than deciding a record in a micro-batch, so this
    endpoint reads its three parameters itself. :func:`document_post_decisions` declares the
    same parameters for OpenAPI."""
    service = _service(request)
    explain = _flag(request.query_params.get("explain"), "explain")
    idempotency_key = request.headers.get("idempotency-key")
    if idempotency_key is not None and len(idempotency_key) > MAX_IDEMPOTENCY_KEY:
        raise _invalid_parameter(
            "Idempotency-Key", "max_length", f"at most {MAX_IDEMPOTENCY_KEY} characters"
        )
    decided_at = _decided_at(request)
    body = await request.body()  # within the body limit (web.guards.BodyLimit)
    result = await service.decide(
        request.path_params["app"],
        body,
        actor=actor_of(request),
        explain=explain,
        idempotency_key=idempotency_key,
        key_owner=key_id_of(request),
        decided_at=decided_at,
    )
    headers = {"Idempotent-Replayed": "true"} if result.replayed else None
    return Response(result.body, headers=headers, media_type="application/json")


BACKFILL_ROLES = frozenset({"admin", "owner"})
"""Roles that may record decisions at a past time (``decided_at``)."""


def _decided_at(request: Request) -> datetime | None:
    """The ``decided_at`` query parameter: for admin and owner keys only (403 naming the field
    for others), an ISO 8601 time not in the future (422 otherwise)."""
    text = request.query_params.get("decided_at")
    if text is None:
        return None
    role = role_of(request)
    if role not in BACKFILL_ROLES:
        message = (
            "decided_at: only admin and owner keys may record decisions at a past time "
            f"(backfill); this key's role is {role or 'none'}. Leave decided_at out to decide now."
        )
        error = RecordError.of_field("decided_at", "role", message)
        raise BackfillDeniedError(message, [error])
    parsed = parse_decided_at(text, datetime.now(UTC))
    if isinstance(parsed, str):
        raise _invalid_parameter("decided_at", "datetime_parsing", parsed)
    return parsed


def document_post_decisions(
    app: str,
    explain: bool | None = None,
    idempotency_key: IdempotencyKey = None,
    decided_at: datetime | None = None,
) -> Response:
    """One record (a JSON object of the app's inputs) or ``{"records": [...]}``. Each decision
    is recorded before the answer is sent. Batches are decided per record, never all-or-nothing:
    good records are decided, bad ones are listed in ``errors``.

    ``explain=true`` explains every decision of the request, ``false`` none; by default the
    spec's ``explain.for`` decides. The same ``Idempotency-Key`` with the same body answers the
    first response again, byte for byte.

    ``decided_at`` (admin and owner keys only, audited with the key's name) records the
    decisions as made at that time: history, marked ``imported`` in their lineage, never
    delivered and never put in the review queue."""
    raise NotImplementedError("documentation only: post_decisions serves this route")


_TRUE = frozenset({"true", "1", "yes", "on"})
_FALSE = frozenset({"false", "0", "no", "off"})


def _flag(value: str | None, name: str) -> bool | None:
    if value is None:
        return None
    text = value.strip().lower()
    if text in _TRUE or text in _FALSE:
        return text in _TRUE
    raise _invalid_parameter(name, "bool_parsing", f"must be true or false, got {value!r}")


def _invalid_parameter(name: str, rule: str, message: str) -> RecordsInvalidError:
    text = f"{name}: {message}"
    error = RecordError.of_field(name, rule, text)
    return RecordsInvalidError(f"The request is invalid: {text}", [error])


def list_decisions(
    request: Request,
    app: str,
    entity_id: str | None = None,
    action: str | None = None,
    status: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=1_000)] = 100,
) -> JSONResponse:
    """Newest first. Pass ``next_cursor`` (also in the ``Link`` header) as ``cursor`` for the
    next page."""
    service = _service(request)
    name = service.registry.get(app).name
    query = DecisionQuery(name, entity_id, action, status, since, until, cursor, limit)
    page = history.list_decisions(service.store, query)
    pii = sees_pii(request)
    items = [decision_view(r, service.registry, pii=pii) for r in page.items]
    headers = {}
    if page.next_cursor is not None:
        headers["Link"] = (
            f'<{request.url.include_query_params(cursor=page.next_cursor)}>; rel="next"'
        )
    return JSONResponse({"items": items, "next_cursor": page.next_cursor}, headers=headers)


def read_decision(request: Request, decision_id: str) -> JSONResponse:
    """The decision with its deliveries (``deliveries``: one summary per outbox row)."""
    service = _service(request)
    record = history.get_decision(service.store, decision_id)
    deliveries = list_deliveries(service.store, decision_id=record.id).items
    view = decision_view(record, service.registry, pii=sees_pii(request), deliveries=deliveries)
    return JSONResponse(view)


def review(request: Request, decision_id: str, body: ReviewIn) -> JSONResponse:
    """Approve a ``pending_review`` decision, or override it with another action (or ``none``).
    A reason is required; a decision takes one verdict only."""
    service = _service(request)
    record = review_decision(
        service.registry,
        service.store,
        decision_id,
        verdict=body.verdict,
        reason=body.reason,
        action=body.action,
        actor=actor_of(request),
        key_id=key_id_of(request),
    )
    return JSONResponse(decision_view(record, service.registry, pii=sees_pii(request)))


def undo_review(request: Request, decision_id: str) -> JSONResponse:
    """Take back the verdict on a decision within its app's undo window
    (``policy.review_undo_seconds``): the decision is ``pending_review`` again, its action held.
    409 once the window has closed."""
    service = _service(request)
    record = undo_verdict(service.store, decision_id, actor=actor_of(request))
    return JSONResponse(decision_view(record, service.registry, pii=sees_pii(request)))


def install(app: FastAPI) -> None:
    tags: list[str | Enum] = ["decisions"]
    # first in the table: the hottest route is matched before any other
    app.router.routes.insert(
        0, GuardedRoute("/v1/apps/{app}/decisions", post_decisions, methods=["POST"])
    )
    documented(
        app,
        APIRoute(
            "/v1/apps/{app}/decisions",
            document_post_decisions,
            methods=["POST"],
            openapi_extra=DECISIONS_BODY,
            responses={200: {"model": DecisionOut | BatchResponse}, **PROBLEMS},
            summary="Decide one record, or a batch of records",
            tags=tags,
        ),
    )
    app.add_api_route(
        "/v1/apps/{app}/decisions",
        list_decisions,
        methods=["GET"],
        responses={200: {"model": DecisionPageOut}, **PROBLEMS},
        summary="List an app's decisions",
        tags=tags,
    )
    app.add_api_route(
        "/v1/decisions/{decision_id}",
        read_decision,
        methods=["GET"],
        responses={200: {"model": StoredDecisionOut}, **PROBLEMS},
        summary="Read one decision",
        tags=tags,
    )
    app.add_api_route(
        "/v1/decisions/{decision_id}/review",
        review,
        methods=["POST"],
        responses={200: {"model": StoredDecisionOut}, **PROBLEMS},
        summary="Review a decision",
        tags=tags,
    )
    app.add_api_route(
        "/v1/decisions/{decision_id}/review/undo",
        undo_review,
        methods=["POST"],
        responses={200: {"model": StoredDecisionOut}, **PROBLEMS},
        summary="Undo a verdict within its window",
        tags=tags,
    )
