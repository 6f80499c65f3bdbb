"""``GET /apps/{app}/report``: the app's monitoring report as the self-contained HTML document
``doorstep report`` writes (same report object as ``GET /v1/apps/{app}/monitoring``, same
template), for reading in the browser or saving as a file."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import anyio.to_thread
from fastapi import Query, Request
from starlette.responses import HTMLResponse

from doorstep.core.windows import WINDOW_PATTERN
from doorstep.services.apps.loading import LoadedApp
from doorstep.services.monitor.drift import drift_thresholds
from doorstep.services.monitor.report import MAX_WINDOWS, monitoring_report
from doorstep.services.monitor.report_html import REPORT_CSP, render_report_html, report_csp
from doorstep.types import MonitoringReport
from doorstep.web.service import DecisionService

__all__ = ["app_report", "report_page"]


def app_report(
    service: DecisionService,
    loaded: LoadedApp,
    *,
    window: Annotated[str | None, Query(pattern=WINDOW_PATTERN)] = None,
    since: datetime | None = None,
    until: datetime | None = None,
    periods: int | None = None,
) -> MonitoringReport:
    """The app's monitoring report as the pages show it: drift against the reference profile
    (cached per model version) with the spec's thresholds. Blocking: call it in a thread."""
    return monitoring_report(
        loaded.spec,
        service.store,
        window=window,
        since=since,
        until=until,
        periods=periods,
        profile=service.profiles.get(loaded),
        thresholds=drift_thresholds(loaded.spec),
    )


async def report_page(
    request: Request,
    app: str,
    window: Annotated[str | None, Query(pattern=WINDOW_PATTERN)] = None,
    since: datetime | None = None,
    until: datetime | None = None,
    periods: Annotated[int | None, Query(ge=1, le=MAX_WINDOWS)] = None,
) -> HTMLResponse:
    service = request.app.state.service
    loaded = service.registry.get(app)

    def build() -> str:
        report = app_report(
            service, loaded, window=window, since=since, until=until, periods=periods
        )
        return render_report_html(report, owner=loaded.spec.app.owner)

    html = await anyio.to_thread.run_sync(build)
    response = HTMLResponse(html)
    response.headers["Cache-Control"] = "no-store"
    response.headers["Content-Security-Policy"] = f"{report_csp()}; {REPORT_CSP}"
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["Referrer-Policy"] = "same-origin"
    return response
