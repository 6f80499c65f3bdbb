"""``/v1/streams``: each stream's lag, rate, decisions, rejects, dead letters and last error, as
``doorstep streams list`` shows them (see docs/streams.md)."""

from __future__ import annotations

from enum import Enum

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from doorstep.services.decide import stream_views as views
from doorstep.web.schemas import PROBLEMS, StreamOut, StreamsOut
from doorstep.web.service import DecisionService


def _service(request: Request) -> DecisionService:
    service: DecisionService = request.app.state.service
    return service


def list_streams(request: Request, app: str | None = None) -> JSONResponse:
    """Every stream consumers reported on or the served specs declare (``app``: its alone)."""
    service = _service(request)
    return JSONResponse({"streams": views.stream_views(service.store, service.registry, app=app)})


def read_stream(request: Request, stream: str, app: str | None = None) -> JSONResponse:
    """One stream; ``app`` says whose when several apps name a stream alike."""
    service = _service(request)
    return JSONResponse(views.stream_view(service.store, service.registry, stream, app=app))


def install(app: FastAPI) -> None:
    tags: list[str | Enum] = ["streams"]
    app.add_api_route(
        "/v1/streams",
        list_streams,
        methods=["GET"],
        responses={200: {"model": StreamsOut}, **PROBLEMS},
        summary="List streams",
        tags=tags,
    )
    app.add_api_route(
        "/v1/streams/{stream}",
        read_stream,
        methods=["GET"],
        responses={200: {"model": StreamOut}, **PROBLEMS},
        summary="Read one stream",
        tags=tags,
    )
