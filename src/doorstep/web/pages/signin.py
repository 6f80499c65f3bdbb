"""Sign in with an API key (reviewer, viewer, owner or admin), sign out, and the home page."""

from __future__ import annotations

import hmac
import secrets
from datetime import UTC, datetime

import anyio.to_thread
from fastapi import Request
from starlette.responses import RedirectResponse, Response

from doorstep.services.governance.sessions import end_session, start_session
from doorstep.web.auth import Authenticator
from doorstep.web.pages.access import CSRF_FIELD, form_of, local_path
from doorstep.web.pages.session import SESSION_COOKIE, SessionCodec
from doorstep.web.pages.templating import REVIEWERS, render

__all__ = ["SIGN_IN_COOKIE", "SIGN_IN_ROLES", "home", "sign_in", "sign_in_form", "sign_out"]

SIGN_IN_COOKIE = "doorstep_sign_in"
SIGN_IN_ROLES = frozenset({"admin", "owner", "reviewer", "viewer"})


def _codec(request: Request) -> SessionCodec:
    codec: SessionCodec = request.app.state.session_codec
    return codec


def _secure(request: Request) -> bool:
    public = request.app.state.settings.public_url or ""
    return bool(public.startswith("https://") or request.url.scheme == "https")


def _form(request: Request, *, message: str = "", status: int = 200) -> Response:
    token = secrets.token_urlsafe(24)
    target = local_path(request.query_params.get("next"))
    response = render(
        request,
        "sign_in.html",
        {"csrf_token": token, "next": target, "message": message, "title": "Sign in"},
        status=status,
    )
    response.set_cookie(
        SIGN_IN_COOKIE,
        _codec(request).seal({"t": token}),
        max_age=3600,
        httponly=True,
        samesite="strict",
        secure=_secure(request),
        path="/sign-in",
    )
    return response


async def sign_in_form(request: Request) -> Response:
    """The sign-in form."""
    return _form(request)


async def sign_in(request: Request) -> Response:
    """Check the key, start a session, go where the person was going."""
    form = await form_of(request)
    expected = _codec(request).open(request.cookies.get(SIGN_IN_COOKIE)) or {}
    sent = form.get(CSRF_FIELD, "")
    if not sent or not hmac.compare_digest(sent, str(expected.get("t", ""))):
        return _form(
            request,
            message="The sign-in form expired or came from another site. Try again.",
            status=403,
        )
    authenticator: Authenticator = request.app.state.authenticator
    secret = form.get("key", "").strip()
    key = await authenticator.authenticate(secret) if secret else None
    if key is None:
        return _form(request, message="This API key is unknown or revoked.", status=401)
    if key.role not in SIGN_IN_ROLES:
        return _form(
            request,
            message=f"A {key.role!r} key is for systems, not people: sign in with a reviewer, "
            "viewer, owner or admin key.",
            status=403,
        )
    codec = _codec(request)
    store = request.app.state.service.store
    now = datetime.now(UTC)
    token = await anyio.to_thread.run_sync(
        lambda: start_session(store, key.id, now=now, seconds=codec.max_age)
    )
    if token is None:  # revoked meanwhile
        return _form(request, message="This API key is unknown or revoked.", status=401)
    session = codec.new_session(token, now.timestamp() + codec.max_age)
    target = local_path(form.get("next"))
    response = RedirectResponse(target, status_code=303)
    response.set_cookie(
        SESSION_COOKIE,
        codec.encode(session),
        max_age=int(codec.max_age),
        httponly=True,
        samesite="lax",
        secure=_secure(request),
        path="/",
    )
    response.delete_cookie(SIGN_IN_COOKIE, path="/sign-in")
    return response


async def sign_out(request: Request) -> Response:
    """End the session in the store (a copy of the cookie stops working too) and drop the
    cookie."""
    store = request.app.state.service.store
    token = request.state.session.token
    await anyio.to_thread.run_sync(lambda: end_session(store, token))
    response = RedirectResponse("/sign-in", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


async def home(request: Request) -> Response:
    """Reviewers land on the queue, others on the first app's dashboard."""
    names = list(request.app.state.service.registry.apps)
    if request.state.key.role in REVIEWERS or not names:
        return RedirectResponse("/review", status_code=303)
    return RedirectResponse(f"/apps/{names[0]}", status_code=303)
