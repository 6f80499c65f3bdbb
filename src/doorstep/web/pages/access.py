"""Who may see and do what on the pages: :class:`PageRoute` authenticates by the session cookie
(not by bearer key) and the session it names in the store, checks the role against
:data:`doorstep.web.auth.ROUTE_ROLES` like every API route, and checks the CSRF token of every
form it receives.

Errors on a page render as a page: no session sends the browser to the sign-in form (and back
afterwards); a refused action is shown with its message and the HTTP status of the API's
problem details (403, 404, 409, 422).
"""

from __future__ import annotations

import hmac
from collections.abc import Callable, Coroutine
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs, parse_qsl, quote, urlencode

import anyio.to_thread
from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from starlette.responses import RedirectResponse, Response

from doorstep.errors import AuthError, CsrfError, DoorstepError, PermissionDeniedError
from doorstep.services.governance.sessions import session_key
from doorstep.store.protocols import KeyStore, Role
from doorstep.web.auth import note_use
from doorstep.web.pages.session import SESSION_COOKIE, SessionCodec
from doorstep.web.pages.templating import render
from doorstep.web.problems import status_of

__all__ = ["PageRoute", "form_of", "local_path", "open_page", "page_address"]

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"


async def form_of(request: Request) -> dict[str, str]:
    """The posted form (``application/x-www-form-urlencoded``), first value of each field."""
    cached: dict[str, str] | None = getattr(request.state, "form", None)
    if cached is not None:
        return cached
    body = await request.body()
    if len(body) > 64 * 1024:
        raise PermissionDeniedError("The form is larger than 64 KiB; nothing was changed.")
    parsed = parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True)
    form = {name: values[0] for name, values in parsed.items()}
    request.state.form = form
    return form


def local_path(target: str | None, default: str = "/") -> str:
    """``target`` when it is a path on this server (``/review?...``), else ``default``: the
    sign-in form never sends anyone to another site."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return default
    return target


def sign_in_redirect(request: Request) -> Response:
    """To the sign-in form, and back here after it. A fragment fetched by htmx (the dashboard's
    monitoring panel) sends the whole page there instead (``HX-Redirect``), back to the page it
    was loaded into: following the redirect itself would put the form inside the page."""
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    fragment = request.headers.get("hx-request") == "true"
    if request.method not in SAFE_METHODS or fragment:
        header = "hx-current-url" if fragment else "referer"
        target = request.headers.get(header, "") or "/"
        target = local_path("/" + target.split("/", 3)[-1] if "://" in target else target)
    location = f"/sign-in?next={quote(target, safe='')}"
    if fragment:
        return Response(status_code=204, headers={"HX-Redirect": location})
    return RedirectResponse(location, status_code=303)


class PageRoute(APIRoute):
    """A page: session-cookie authentication, CSRF on forms, errors rendered as pages.

    :func:`doorstep.web.auth.authorize` (the app-wide check) calls :meth:`check_access` for
    these routes instead of looking for a bearer key.

    A form posted to an address of its own names the page it belongs to (:attr:`page`): a page
    rendered in answer (a refusal, with its message) tells htmx to show that page's address
    (``HX-Replace-Url``), so that reloading shows the page, not the form's address."""

    page: str | None = None
    """The address of the page this form belongs to, e.g. ``/decisions/{decision_id}``."""

    def __init__(self, path: str, endpoint: Callable[..., Any], **kwargs: Any) -> None:
        kwargs.setdefault("include_in_schema", False)
        super().__init__(path, endpoint, **kwargs)

    async def check_access(self, request: Request, allowed: frozenset[Role]) -> None:
        codec: SessionCodec = request.app.state.session_codec
        session = codec.decode(request.cookies.get(SESSION_COOKIE))
        if session is None:
            raise AuthError("Sign in with an API key to see this page.")
        store: KeyStore = request.app.state.service.store
        now = datetime.now(UTC)
        key = await anyio.to_thread.run_sync(lambda: session_key(store, session.token, now=now))
        if key is None:  # signed out, expired, the key revoked or given another role
            raise AuthError("Your session has ended; sign in again.")
        request.state.key = key
        request.state.session = session
        await note_use(request, key)
        if key.role not in allowed:
            raise PermissionDeniedError(
                f"A {key.role!r} key may not {_what(request)}; roles allowed: "
                f"{', '.join(sorted(allowed))}."
            )
        if request.method not in SAFE_METHODS:
            sent = request.headers.get(CSRF_HEADER) or (await form_of(request)).get(CSRF_FIELD, "")
            if not hmac.compare_digest(sent.encode(), session.csrf.encode()):
                raise CsrfError(
                    "This form was refused: it did not carry this session's security token "
                    "(it may come from another site, or from a page opened before you signed "
                    "in again). Nothing was changed; reload the page and try again."
                )

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def page(request: Request) -> Response:
            try:
                response = await handler(request)
            except AuthError:
                return sign_in_redirect(request)
            except DoorstepError as exc:
                status = status_of(exc)
                if status == 500:
                    raise
                response = error_page(request, status, exc.code, exc.message)
            except RequestValidationError as exc:
                fields = ", ".join(str(e.get("loc", ("?",))[-1]) for e in exc.errors())
                response = error_page(
                    request, 422, "input_invalid", f"These values are not valid: {fields}."
                )
            if self.page is not None and not 300 <= response.status_code < 400:
                response.headers["HX-Replace-Url"] = page_address(request, self.page)
            return response

        return page


def page_address(request: Request, page: str) -> str:
    """``page`` for this request's path parameters, with the queue's filters the form carried
    (``q``), re-encoded: nothing the form sent reaches the header as it was sent."""
    path = page.format(**{k: quote(str(v), safe="") for k, v in request.path_params.items()})
    form: dict[str, str] = getattr(request.state, "form", None) or {}
    query = urlencode(parse_qsl(form.get("q", "")))
    return path + (f"?{query}" if query else "")


def open_page(page: str) -> Callable[[Request], Coroutine[Any, Any, Response]]:
    """An endpoint for ``GET`` on a form's address: the page the form belongs to (a reload of a
    refusal shown without JavaScript, a copied address), never a 405."""

    async def open_form_page(request: Request) -> Response:
        return RedirectResponse(page_address(request, page), status_code=303)

    return open_form_page


ERROR_TITLES = {
    401: "Sign in needed",
    403: "Not allowed",
    404: "Not found",
    405: "Not allowed here",
    409: "Changed meanwhile",
    413: "Too large",
    422: "Not valid",
    503: "Unavailable for now",
}
"""The heading of an error page by status; any other status is "Refused" (4xx) or "Something
went wrong" (5xx)."""


def error_page(request: Request, status: int, code: str, message: str) -> Response:
    """An error as a page for a person: what happened, in words, and what to do next."""
    title = ERROR_TITLES.get(status, "Something went wrong" if status >= 500 else "Refused")
    if getattr(request.state, "session", None) is None:  # an address no page serves
        _recognise(request)
    context = {"status": status, "code": code, "message": message, "title": title}
    return render(request, "error.html", context, status=status)


def _recognise(request: Request) -> None:
    """Who is signed in, for an error page outside the pages' routes (an unknown address):
    their navigation and next steps are shown. Called off the event loop (error handlers
    of unknown routes and failures run in a worker thread); nothing is refused here."""
    codec: SessionCodec | None = getattr(request.app.state, "session_codec", None)
    session = codec.decode(request.cookies.get(SESSION_COOKIE)) if codec else None
    if session is None:
        return
    try:
        key = session_key(request.app.state.service.store, session.token, now=datetime.now(UTC))
    except DoorstepError:  # the store is down: the error page is shown all the same
        return
    if key is not None:
        request.state.key, request.state.session = key, session


def _what(request: Request) -> str:
    verb = "open" if request.method in SAFE_METHODS else "use"
    return f"{verb} {request.url.path}"
