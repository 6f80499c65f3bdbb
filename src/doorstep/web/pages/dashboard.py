"""An app's dashboard (``GET /apps/{app}``): a business headline (what acting was worth against
the control group, or how long until that can be said: :mod:`doorstep.services.monitor.headline`),
decisions per day by action, the review backlog and its age, the override rate, and the panels
other parts of doorstep add when they have data (``app.state.dashboard_panels``: see
:mod:`doorstep.services.monitor.dashboard`)."""

from __future__ import annotations

from dataclasses import asdict
from datetime import UTC, datetime

import anyio.to_thread
from fastapi import Request
from starlette.responses import Response

from doorstep.services.decide.online import encode_json
from doorstep.services.monitor.dashboard import build_dashboard
from doorstep.services.monitor.headline import business_headline, headline_report
from doorstep.web.pages.templating import render

__all__ = ["dashboard"]


async def dashboard(request: Request, app: str) -> Response:
    service = request.app.state.service
    loaded = service.registry.get(app)
    sources = request.app.state.dashboard_panels
    board = await anyio.to_thread.run_sync(
        lambda: build_dashboard(loaded, service.store, now=datetime.now(UTC), sources=sources)
    )
    reports = request.app.state.panel_reports  # the headline's report is reused for a minute
    report = await reports.get(
        ("headline", app, loaded.model_version),
        lambda: headline_report(loaded.spec, service.store, now=datetime.now(UTC)),
    )
    headline = business_headline(loaded.spec, report)
    charts = {c.id: asdict(c) for panel in board.panels for c in panel.charts}
    return render(
        request,
        "dashboard.html",
        {
            "title": f"{board.app} dashboard",
            "board": board,
            "headline": headline,
            "app": loaded,
            "total": sum(sum(day.decisions.values()) for day in board.activity.days),
            "charts_json": encode_json(charts).decode().replace("</", "<\\/"),
        },
    )
