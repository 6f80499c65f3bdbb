"""Guards that run before a route reads anything of a request.

- :class:`BodyLimit` — one limit on the request body for every route (API, pages, sign-in),
  enforced while the body arrives: a declared ``Content-Length`` beyond it is refused at once,
  and a body streamed without one is cut off as soon as it passes the limit, so no request can
  make the server buffer more than the limit (413 ``payload_too_large``).
- :class:`NoSniff` — every response declares ``X-Content-Type-Options: nosniff``.
- :class:`AuthorizedRoute` — FastAPI routes authenticate the caller and check its role
  (:func:`doorstep.web.auth.authorize`) before FastAPI reads and parses their body, so an
  anonymous caller gets 401, not a body error, and no parsing is spent on it.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

from fastapi.routing import APIRoute
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from doorstep.core.bodies import parse_json
from doorstep.errors import PayloadTooLargeError
from doorstep.web.auth import authorize

__all__ = ["AuthorizedRoute", "BodyLimit", "NoSniff", "body_too_large"]


def body_too_large(size: int, limit: int) -> PayloadTooLargeError:
    return PayloadTooLargeError(
        f"The request body has {size} bytes or more; at most {limit} are accepted. Send fewer "
        "records per request."
    )


class BodyLimit:
    """ASGI middleware: at most ``limit`` bytes of body per request (see the module docstring).

    A body over the limit raises :class:`PayloadTooLargeError` from ``receive``, inside the
    route that reads it, so the app's one error handler answers it as a problem (413)."""

    def __init__(self, app: ASGIApp, *, limit: int) -> None:
        self.app, self.limit = app, limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limit
        for name, value in scope.get("headers", ()):
            if name == b"content-length":
                declared = int(value) if value.isdigit() else -1
                if declared > limit:
                    scope = {**scope, "doorstep.body_refused": declared}
                break
        refused = scope.get("doorstep.body_refused")
        received = 0

        async def limited() -> Message:
            nonlocal received
            if refused is not None:
                raise body_too_large(refused, limit)
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise body_too_large(received, limit)
            return message

        await self.app(scope, limited, send)


class NoSniff:
    """ASGI middleware: every response says ``X-Content-Type-Options: nosniff`` (a browser
    must not read a JSON answer or a vendored script as anything but its declared type)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_header(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                if not any(name.lower() == b"x-content-type-options" for name, _ in headers):
                    headers.append((b"x-content-type-options", b"nosniff"))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_header)


class AuthorizedRoute(APIRoute):
    """A FastAPI route whose caller is authenticated and authorised before its body is read
    (FastAPI reads the body before it solves the app-wide dependencies)."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def authorized(request: Request) -> Response:
            await authorize(request)
            if self.body_field is not None:
                # read (within the limit) and check the JSON here: FastAPI turns any error while
                # it reads or parses a body into a bare 400; these become problems (413, 422)
                body = await request.body()
                if body:
                    parse_json(body)
            return await handler(request)

        return authorized
