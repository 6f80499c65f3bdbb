"""RFC 9457 problem details: the one place where doorstep errors become HTTP statuses.

Every error answer — doorstep's own errors, FastAPI's request validation, unknown routes and
methods, and unexpected exceptions (500, without internals) — is ``application/problem+json``::

    {"type": ".../api.md#not_found", "title": "Not found", "status": 404,
     "detail": "There is no decision '0192...'.", "instance": "/v1/decisions/0192...",
     "code": "not_found"}

Input errors add ``errors: [{record, entity_id, field, rule, message}]``.

A person's browser opening a page address (``GET`` asking for ``text/html``, outside the API's
paths) gets the same error as an HTML page with a next step instead, when the pages are served
(:func:`install_html_errors`): never raw JSON for an unknown page or a page that failed.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect
from starlette.responses import Response

from doorstep.errors import (
    AuthError,
    BackfillDeniedError,
    ConflictError,
    DoorstepError,
    FeatureSourceUnavailableError,
    IdempotencyConflictError,
    InputError,
    NotFoundError,
    PayloadTooLargeError,
    PermissionDeniedError,
    RecordError,
    RecordsInvalidError,
    StoreUnavailableError,
)
from doorstep.services.decide.online import encode_json

__all__ = [
    "PROBLEM_TYPE",
    "STATUS_BY_ERROR",
    "HtmlErrorPage",
    "install_html_errors",
    "install_problem_handlers",
    "problem_response",
    "wants_html",
]

PROBLEM_TYPE = "https://github.com/doorstep-ml/doorstep/blob/main/docs/api.md#"
MEDIA_TYPE = "application/problem+json"

STATUS_BY_ERROR: dict[type[DoorstepError], int] = {
    PayloadTooLargeError: 413,
    IdempotencyConflictError: 422,
    InputError: 422,
    NotFoundError: 404,
    ConflictError: 409,
    AuthError: 401,
    PermissionDeniedError: 403,
    StoreUnavailableError: 503,
    FeatureSourceUnavailableError: 503,
}
"""Doorstep errors by HTTP status; the nearest class in an error's MRO decides. Others: 500."""

_HTTP_CODES = {404: "not_found", 405: "method_not_allowed", 413: "payload_too_large"}
_TITLES = {
    "input_invalid": "Invalid input",
    "payload_too_large": "Payload too large",
    "not_found": "Not found",
    "method_not_allowed": "Method not allowed",
    "review_conflict": "Review conflict",
    "idempotency_conflict": "Idempotency-Key reused with another body",
    "unauthenticated": "Authentication required",
    "permission_denied": "Permission denied",
    "store_unavailable": "Store unavailable",
    "feature_source_unavailable": "Feature source unavailable",
    "entity_unknown": "Unknown entity",
    "entity_ambiguous": "Ambiguous entity",
    "features_stale": "Features too old",
    "internal_error": "Internal server error",
}

logger = logging.getLogger("doorstep.web")

HtmlErrorPage = Callable[[Request, int, str, str], Response]
"""Renders an error for a person: (request, status, code, detail) -> an HTML page."""

API_PREFIXES = ("/v1/", "/docs", "/openapi", "/metrics", "/healthz", "/readyz", "/static/")
"""Paths whose errors are always problem details, whatever the client accepts."""


def wants_html(request: Request) -> bool:
    """A browser opening a page: ``GET``/``HEAD``, ``text/html`` accepted, not an API path."""
    path = request.url.path
    return (
        request.method in ("GET", "HEAD")
        and "text/html" in request.headers.get("accept", "")
        and not path.startswith(API_PREFIXES)
    )


def install_html_errors(app: FastAPI, page: HtmlErrorPage) -> None:
    """Answer people's page errors with ``page`` instead of problem details."""
    app.state.html_error_page = page


def status_of(error: DoorstepError) -> int:
    for cls in type(error).__mro__:
        status = STATUS_BY_ERROR.get(cls)
        if status is not None:
            return status
    return 500


def problem_response(
    request: Request,
    status: int,
    code: str,
    detail: str,
    *,
    errors: list[RecordError] | None = None,
    headers: dict[str, str] | None = None,
) -> Response:
    page: HtmlErrorPage | None = getattr(request.app.state, "html_error_page", None)
    if page is not None and wants_html(request):
        response = page(request, status, code, detail)
        response.headers.update(headers or {})
        return response
    body: dict[str, Any] = {
        "type": PROBLEM_TYPE + code,
        "title": _TITLES.get(code, code.replace("_", " ").capitalize()),
        "status": status,
        "detail": detail,
        "instance": request.url.path,
        "code": code,
    }
    if errors is not None:
        body["errors"] = errors
    return Response(encode_json(body), status, headers=headers, media_type=MEDIA_TYPE)


def _doorstep_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, DoorstepError)
    status = status_of(exc)
    if status == 500:
        return _internal(request, exc)
    headers: dict[str, str] = {}
    if status == 401:
        headers["WWW-Authenticate"] = 'Bearer realm="doorstep"'
    if status == 503:
        settings = getattr(request.app.state, "settings", None)
        headers["Retry-After"] = str(getattr(settings, "retry_after_seconds", 1))
    errors = exc.errors if isinstance(exc, RecordsInvalidError | BackfillDeniedError) else None
    return problem_response(request, status, exc.code, exc.message, errors=errors, headers=headers)


def _validation_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    errors = []
    for error in exc.errors():
        location = [str(part) for part in error.get("loc", ())]
        where = location[0] if location else ""
        name = ".".join(location[1:]) or where
        message = f"{where} {name}: {error.get('msg', 'invalid')}".strip()
        errors.append(RecordError.of_field(name, str(error.get("type", "invalid")), message))
    detail = "The request is invalid: " + "; ".join(e.message for e in errors)
    return problem_response(request, 422, InputError.code, detail, errors=errors)


def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    code = _HTTP_CODES.get(exc.status_code, "http_error")
    detail = str(exc.detail)
    if exc.status_code == 404 and detail == "Not Found":
        detail = (
            f"There is no page at {request.url.path}."
            if wants_html(request)
            else f"There is no route {request.url.path}. The API is described at /docs."
        )
    headers = dict(exc.headers) if exc.headers else None
    if exc.status_code == 405:
        allowed = allowed_methods(request)
        detail = (
            f"{request.method} is not allowed on {request.url.path}; allowed: {', '.join(allowed)}."
        )
        headers = {**(headers or {}), "Allow": ", ".join(allowed)}
    return problem_response(request, exc.status_code, code, detail, headers=headers)


def allowed_methods(request: Request) -> list[str]:
    """Every method some route serves on the request's path (several routes may share a path,
    e.g. ``GET`` and ``POST /v1/apps/{app}/decisions``), for a 405's ``Allow``."""
    path = request.url.path
    methods: set[str] = set()
    for route in request.app.router.routes:
        regex = getattr(route, "path_regex", None)
        if regex is not None and regex.match(path):
            methods |= set(getattr(route, "methods", None) or ())
    if "GET" in methods:
        methods.add("HEAD")
    return sorted(methods)


def _internal(request: Request, exc: Exception) -> Response:
    logger.error("unexpected error on %s %s", request.method, request.url.path, exc_info=exc)
    return problem_response(
        request,
        500,
        "internal_error",
        "The server failed to answer this request. The error is logged; retry, and report it "
        "if it persists.",
    )


def _gone(request: Request, exc: Exception) -> Response:
    """The client hung up while sending its request: nothing to answer, nothing went wrong
    here (logged as information, not as an error with a traceback)."""
    logger.info("client disconnected during %s %s", request.method, request.url.path)
    return Response(status_code=400)


def install_problem_handlers(app: FastAPI) -> None:
    app.add_exception_handler(ClientDisconnect, _gone)
    app.add_exception_handler(DoorstepError, _doorstep_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(HTTPException, _http_error)
    app.add_exception_handler(Exception, _internal)
