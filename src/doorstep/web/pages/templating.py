"""Jinja2 templates of the pages (autoescaped), and the context every page gets."""

from __future__ import annotations

from datetime import UTC, datetime
from functools import cache
from typing import Any

import jinja2
from starlette.requests import Request
from starlette.responses import HTMLResponse

from doorstep.web.auth import PII_ROLES

__all__ = [
    "REVIEWERS",
    "OPERATORS",
    "age_text",
    "environment",
    "number_text",
    "page_response",
    "render",
    "significant",
]

REVIEWERS = frozenset({"admin", "owner", "reviewer"})
OPERATORS = frozenset({"admin", "owner"})


def age_text(moment: datetime, now: datetime | None = None) -> str:
    """``3 min``, ``5 h``, ``2 d``: how long ago, short."""
    seconds = max(0.0, ((now or datetime.now(UTC)) - moment).total_seconds())
    if seconds < 3600:
        return f"{int(seconds // 60)} min"
    if seconds < 86400:
        return f"{seconds / 3600:.0f} h"
    return f"{seconds / 86400:.1f} d"


def _hours(value: float | None) -> str:
    if value is None:
        return ""
    hours = abs(value)
    text = f"{hours * 60:.0f} min" if hours < 1 else f"{hours:.0f} h"
    return text


def number_text(value: float | None) -> str:
    """``12,300``, ``0.597``, ``1,234.5``: thousands separated, at most 3 significant digits
    after the point for a fraction; ``—`` for none."""
    if value is None:
        return "—"
    if float(value).is_integer():
        return f"{int(value):,}"
    if abs(value) >= 100:
        return f"{value:,.1f}"
    return f"{value:,.3g}" if abs(value) >= 1 else f"{value:.3g}"


def significant(value: float, digits: int = 3) -> str:
    """``value`` with ``digits`` significant digits (``0.597``, ``0.0512``, ``12.0``); whole
    numbers from 10**digits up keep every digit, with thousands separators."""
    if abs(value) >= 10**digits:
        return f"{value:,.0f}"
    text = f"{value:#.{digits}g}"
    if "e" in text:  # a score of 1e-05: plain decimals read better than exponents
        text = f"{value:.{digits + 3}f}"
    return text.rstrip(".")


@cache
def environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("doorstep.web", "templates"),
        autoescape=jinja2.select_autoescape(default=True),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["age"] = age_text
    env.filters["hours"] = _hours
    env.filters["when"] = lambda m: m.strftime("%Y-%m-%d %H:%M UTC") if m else "—"
    env.filters["sig"] = significant
    env.filters["pct"] = lambda v: "—" if v is None else f"{100 * v:.0f}%"
    env.filters["num"] = number_text
    return env


def render(
    request: Request, template: str, context: dict[str, Any], *, status: int = 200
) -> HTMLResponse:
    """Render ``template`` with ``context`` plus who is signed in and what they may do."""
    session = getattr(request.state, "session", None)
    user = getattr(request.state, "key", None) if session is not None else None
    role = user.role if user is not None else None  # the key's role now, read with the session
    registry = request.app.state.service.registry
    owners = {name: app.spec.app.owner for name, app in registry.apps.items()}
    page_app = _page_app(request, context)
    base: dict[str, Any] = {
        "request": request,
        "session": session,
        "user": user,
        "csrf_token": session.csrf if session is not None else context.get("csrf_token", ""),
        "can_review": role in REVIEWERS,
        "can_operate": role in OPERATORS,
        "sees_pii": role in PII_ROLES,
        "app_names": list(registry.apps),
        # who answers for the app(s) the page shows, in the app bar of every page
        "app_owners": [(page_app, owners[page_app])]
        if page_app in owners
        else list(owners.items()),
        "now": datetime.now(UTC),
    }
    base.update(context)
    html = environment().get_template(template).render(base)
    return page_response(html, status=status)


def _page_app(request: Request, context: dict[str, Any]) -> str | None:
    """The app a page is about: its route's ``{app}``, else its decision's (``None``: a page
    of every app, like the review queue)."""
    app = request.path_params.get("app")
    if isinstance(app, str):
        return app
    record = context.get("record")
    found = getattr(record, "app", None)
    return found if isinstance(found, str) else None


def page_response(html: str, *, status: int = 200) -> HTMLResponse:
    """``html`` with the headers of every page: not cached, not framed, nothing loaded from
    elsewhere."""
    response = HTMLResponse(html, status_code=status)
    response.headers["Cache-Control"] = "no-store"
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["Content-Security-Policy"] = CSP
    response.headers["Referrer-Policy"] = "same-origin"
    return response


CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'self'"
)
"""Nothing is loaded from elsewhere, and no inline script runs (chart data travels as JSON in
``<script type="application/json">``, which is not executed)."""
