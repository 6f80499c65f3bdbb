"""``/v1/apps``, health, readiness and metrics."""

from __future__ import annotations

from enum import Enum

import anyio.to_thread
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from doorstep.errors import StoreUnavailableError
from doorstep.services.apps.registry import check_ready
from doorstep.services.governance.versions import model_versions
from doorstep.web.render import app_view
from doorstep.web.schemas import PROBLEMS, AppsOut, HealthOut, ReadyOut
from doorstep.web.service import DecisionService


def _service(request: Request) -> DecisionService:
    service: DecisionService = request.app.state.service
    return service


def list_apps(request: Request) -> JSONResponse:
    """Apps with their owners, current model version and every registered version."""
    service = _service(request)
    apps = [app_view(app, model_versions(service.store, app.name)) for app in service.registry]
    return JSONResponse({"apps": apps})


async def healthz() -> JSONResponse:
    return JSONResponse({"status": "ok"})


def readyz(request: Request) -> JSONResponse:
    """200 when the store answers and at least one app is loaded; 503 otherwise."""
    service = _service(request)
    return JSONResponse({"status": "ready", "apps": check_ready(service.registry, service.store)})


async def metrics(request: Request) -> Response:
    service = _service(request)
    names = list(service.registry.apps)
    cap = service.settings.review_backlog_cap
    try:
        await anyio.to_thread.run_sync(service.metrics.measure, service.store, names, cap)
    except StoreUnavailableError:
        pass  # keep the last value; /readyz reports the store
    return Response(generate_latest(service.metrics.registry), media_type=CONTENT_TYPE_LATEST)


def install(app: FastAPI) -> None:
    apps: list[str | Enum] = ["apps"]
    health: list[str | Enum] = ["health"]
    app.add_api_route(
        "/v1/apps",
        list_apps,
        methods=["GET"],
        responses={200: {"model": AppsOut}, **PROBLEMS},
        tags=apps,
        summary="Apps",
    )
    app.add_api_route(
        "/healthz",
        healthz,
        methods=["GET"],
        responses={200: {"model": HealthOut}},
        tags=health,
        summary="Process up",
    )
    app.add_api_route(
        "/readyz",
        readyz,
        methods=["GET"],
        responses={200: {"model": ReadyOut}, **PROBLEMS},
        tags=health,
        summary="Ready",
    )
    app.add_api_route(
        "/metrics",
        metrics,
        methods=["GET"],
        response_class=PlainTextResponse,  # Prometheus' text format
        responses=PROBLEMS,
        tags=health,
        summary="Metrics",
    )
