"""The OpenAPI document (``/openapi.json``) and the interactive API docs (``/docs``).

- Routes served outside FastAPI's routing are described too: a hot route may be a plain
  Starlette route (see :class:`doorstep.web.auth.GuardedRoute`) while an
  :class:`~fastapi.routing.APIRoute` with the same path, parameters and responses, never
  mounted, describes it (:func:`documented`).
- The document declares its security scheme (a bearer API key) on every operation but the open
  ones, so the docs page's *Authorize* button works.
- ``/docs`` is Swagger UI served from this server (``static/vendor/swagger-ui``): nothing loads
  from elsewhere, and the page carries the pages' security headers.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from fastapi.routing import APIRoute
from starlette.requests import Request
from starlette.responses import HTMLResponse

from doorstep.web.auth import OPEN, ROUTE_ROLES

__all__ = ["DOCS_CSP", "documented", "install_openapi"]

SCHEME = "bearer"
DOCS_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; "
    "frame-ancestors 'none'"
)
"""Swagger UI sets inline styles on its elements; everything else comes from this server."""

_DOCS_PAGE = """<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>{title} — API</title>
  <link rel="stylesheet" href="/static/vendor/swagger-ui/swagger-ui.css">
</head>
<body>
  <div id="swagger-ui"></div>
  <script src="/static/vendor/swagger-ui/swagger-ui-bundle.js"></script>
  <script src="/static/docs.js"></script>
</body>
</html>
"""


def documented(app: FastAPI, route: APIRoute) -> None:
    """Describe ``route`` in ``app``'s OpenAPI document without routing requests to it."""
    extra: list[APIRoute] = app.state.__dict__.setdefault("_documented_routes", [])
    extra.append(route)
    app.openapi_schema = None


def install_openapi(app: FastAPI) -> None:
    """The document (with :func:`documented` routes and the security scheme) and ``/docs``."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            extra: list[APIRoute] = app.state.__dict__.get("_documented_routes", [])
            document = get_openapi(
                title=app.title,
                version=app.version,
                openapi_version=app.openapi_version,
                summary=app.summary,
                description=app.description,
                routes=[*app.routes, *extra],
                tags=app.openapi_tags,
                servers=app.servers,
            )
            app.openapi_schema = _secured(document)
        return app.openapi_schema

    async def docs(_: Request) -> HTMLResponse:
        response = HTMLResponse(_DOCS_PAGE.format(title=app.title))
        response.headers["Content-Security-Policy"] = DOCS_CSP
        response.headers["X-Frame-Options"] = "DENY"
        response.headers["Cache-Control"] = "no-store"
        return response

    app.openapi = openapi  # type: ignore[method-assign]
    app.add_route("/docs", docs, methods=["GET"], include_in_schema=False)


def _secured(document: dict[str, Any]) -> dict[str, Any]:
    """``document`` with the bearer key declared, required by every operation but open ones."""
    components = document.setdefault("components", {})
    components.setdefault("securitySchemes", {})[SCHEME] = {
        "type": "http",
        "scheme": "bearer",
        "description": "An API key (`dsk_...`): `doorstep keys create --role client --name NAME`.",
    }
    document["security"] = [{SCHEME: []}]
    for path, operations in document.get("paths", {}).items():
        for method, operation in operations.items():
            if ROUTE_ROLES.get((method.upper(), path)) == OPEN:
                operation["security"] = []
    return document
