"""The OpenAPI document, including routes served outside FastAPI's routing.

A hot route may be served by a plain Starlette route (see :class:`doorstep.web.auth.GuardedRoute`)
while an :class:`~fastapi.routing.APIRoute` with the same path, parameters and responses, never
mounted, describes it: :func:`documented` adds such descriptions to the app's ``/openapi.json``.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from fastapi.routing import APIRoute

__all__ = ["documented"]


def documented(app: FastAPI, route: APIRoute) -> None:
    """Describe ``route`` in ``app``'s OpenAPI document without routing requests to it."""
    extra: list[APIRoute] = app.state.__dict__.setdefault("_documented_routes", [])
    extra.append(route)

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = get_openapi(
                title=app.title,
                version=app.version,
                openapi_version=app.openapi_version,
                summary=app.summary,
                description=app.description,
                routes=[*app.routes, *extra],
                tags=app.openapi_tags,
                servers=app.servers,
            )
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
