"""The pages served by ``doorstep serve`` for people: sign-in, the review queue, decisions,
app dashboards, model versions and API keys. Server-rendered (Jinja2), enhanced by htmx and a
small chart library served from ``static/vendor/`` (nothing is loaded from elsewhere).
See ``docs/pages.md``."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from starlette.staticfiles import StaticFiles

from doorstep.web.pages import (
    activity,
    admin,
    dashboard,
    decision,
    deliveries,
    models,
    monitoring_panel,
    queue,
    report_page,
    signin,
)
from doorstep.web.pages.access import PageRoute, error_page, open_page
from doorstep.web.pages.session import SessionCodec, load_session_secret
from doorstep.web.problems import install_html_errors
from doorstep.web.settings import ServeSettings

__all__ = ["STATIC", "install_pages"]

STATIC = Path(__file__).resolve().parent.parent / "static"


def install_pages(app: FastAPI, settings: ServeSettings) -> None:
    """Add the pages to ``app`` (whose ``state.service`` and ``state.authenticator`` are set)."""
    secret = load_session_secret(Path(settings.home))
    app.state.session_codec = SessionCodec(secret, max_age=settings.session_hours * 3600)
    app.state.dashboard_panels = []
    app.state.panel_reports = monitoring_panel.PanelReports()
    pages: list[tuple[str, str, Callable[..., Any]]] = [
        ("GET", "/sign-in", signin.sign_in_form),
        ("POST", "/sign-in", signin.sign_in),
        ("GET", "/", signin.home),
        ("GET", "/review", queue.review_queue),
        ("GET", "/review/next", queue.next_case),
        ("GET", "/decisions/{decision_id}", decision.decision_page),
        ("GET", "/decisions/{decision_id}/what-if", decision.what_if),
        ("GET", "/apps/{app}", dashboard.dashboard),
        ("GET", "/apps/{app}/report", report_page.report_page),
        ("GET", "/apps/{app}/monitoring-panel", monitoring_panel.monitoring_panel),
        ("GET", "/apps/{app}/deliveries", deliveries.deliveries_page),
        ("GET", "/apps/{app}/activity", activity.activity_page),
        ("POST", "/deliveries/{delivery_id}/retry", deliveries.retry),
        ("POST", "/deliveries/{delivery_id}/cancel", deliveries.cancel),
        ("GET", "/deliveries/{delivery_id}/retry", deliveries.open_delivery),
        ("GET", "/deliveries/{delivery_id}/cancel", deliveries.open_delivery),
        ("GET", "/models", models.models_page),
        ("GET", "/keys", admin.keys_page),
        ("POST", "/keys", admin.create),
    ]
    for method, path, endpoint in pages:  # HTML for people: not part of the API's document
        app.router.add_api_route(
            path,
            endpoint,
            methods=[method],
            route_class_override=PageRoute,
            include_in_schema=False,
        )
    # forms posted to an address of their own, and the page each belongs to: a refusal shown
    # there keeps the page's address, and opening the form's address opens the page
    forms: list[tuple[str, Callable[..., Any], str]] = [
        ("/sign-out", signin.sign_out, "/"),
        ("/review/next", queue.skip_case, "/review"),
        ("/decisions/{decision_id}/claim", decision.claim, "/decisions/{decision_id}"),
        ("/decisions/{decision_id}/release", decision.release, "/decisions/{decision_id}"),
        ("/decisions/{decision_id}/verdict", decision.verdict, "/decisions/{decision_id}"),
        ("/decisions/{decision_id}/undo", decision.undo, "/decisions/{decision_id}"),
        ("/apps/{app}/models/{verb}", models.change, "/models"),
        ("/keys/{key_id}/revoke", admin.revoke, "/keys"),
        ("/keys/{key_id}/role", admin.change_role, "/keys"),
    ]
    for path, endpoint, page in forms:
        app.router.add_api_route(
            path,
            endpoint,
            methods=["POST"],
            route_class_override=PageRoute,
            include_in_schema=False,
        )
        form = app.router.routes[-1]
        assert isinstance(form, PageRoute)
        form.page = page
        if ("GET", path) not in {(m, p) for m, p, _ in pages}:
            app.router.add_api_route(
                path,
                open_page(page),
                methods=["GET"],
                route_class_override=PageRoute,
                include_in_schema=False,
            )
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    install_html_errors(app, error_page)
