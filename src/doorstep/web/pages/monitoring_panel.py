"""``GET /apps/{app}/monitoring-panel``: the dashboard's monitoring panel, an HTML fragment that
the dashboard fetches with htmx once it has loaded (the dashboard itself stays fast; a report
with drift reads every decision of its range and takes seconds on a large store).

The panel shows the report object of ``GET /apps/{app}/report`` (same arguments, same defaults),
drawn by :func:`doorstep.services.monitor.report_html.render_report_panel`, with the app's open
alerts read fresh from the store. The report is kept for :data:`PANEL_SECONDS` per app, model
version and range, and computed once when several dashboards ask at the same time.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime
from typing import Annotated, Any

import anyio
import anyio.to_thread
from fastapi import Query, Request
from starlette.responses import HTMLResponse

from doorstep.core.windows import WINDOW_PATTERN
from doorstep.services.monitor.alerts import app_alerts
from doorstep.services.monitor.report import MAX_WINDOWS
from doorstep.services.monitor.report_html import render_report_panel
from doorstep.types import MonitoringReport
from doorstep.web.pages.report_page import app_report
from doorstep.web.pages.templating import page_response

__all__ = ["PANEL_SECONDS", "PanelReports", "monitoring_panel"]

PANEL_SECONDS = 60.0
"""How long the panel's report is reused before it is computed again."""


class PanelReports:
    """Monitoring reports by key, reused for ``ttl`` seconds; one computation per key at a time
    (the others wait for it and take its result)."""

    def __init__(self, ttl: float = PANEL_SECONDS, limit: int = 256) -> None:
        self.ttl, self.limit = ttl, limit
        self._reports: dict[tuple[Any, ...], tuple[float, MonitoringReport]] = {}
        self._locks: dict[tuple[Any, ...], anyio.Lock] = {}

    async def get(
        self, key: tuple[Any, ...], build: Callable[[], MonitoringReport]
    ) -> MonitoringReport:
        lock = self._locks.setdefault(key, anyio.Lock())
        async with lock:
            kept = self._reports.get(key)
            if kept is not None and kept[0] > time.monotonic():
                return kept[1]
            report = await anyio.to_thread.run_sync(build)
            if len(self._reports) >= self.limit:
                self._reports.clear()
                self._locks = {key: lock}
            self._reports[key] = (time.monotonic() + self.ttl, report)
            return report


async def monitoring_panel(
    request: Request,
    app: str,
    window: Annotated[str | None, Query(pattern=WINDOW_PATTERN)] = None,
    since: datetime | None = None,
    until: datetime | None = None,
    periods: Annotated[int | None, Query(ge=1, le=MAX_WINDOWS)] = None,
) -> HTMLResponse:
    service = request.app.state.service
    loaded = service.registry.get(app)
    reports: PanelReports = request.app.state.panel_reports
    key = (app, loaded.model_version, window, since, until, periods)
    report = await reports.get(
        key,
        lambda: app_report(
            service, loaded, window=window, since=since, until=until, periods=periods
        ),
    )
    alerts = await anyio.to_thread.run_sync(app_alerts, service.store, app)
    html = render_report_panel(report, alerts=alerts, report_url=f"/apps/{app}/report")
    return page_response(html)
