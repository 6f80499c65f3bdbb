"""``/v1/runs``: batch runs from feature sources (scheduled or started by hand), as ``doorstep
runs list|show`` shows them."""

from __future__ import annotations

from enum import Enum
from typing import Annotated, Literal

from fastapi import FastAPI, Query, Request
from fastapi.responses import JSONResponse

from doorstep.services.runs import sources as runs
from doorstep.store.runs import RunQuery
from doorstep.web.schemas import PROBLEMS, RunOut, RunPageOut
from doorstep.web.service import DecisionService


def _service(request: Request) -> DecisionService:
    service: DecisionService = request.app.state.service
    return service


def list_runs(
    request: Request,
    app: str | None = None,
    schedule: str | None = None,
    state: Literal["running", "succeeded", "failed"] | None = None,
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=1_000)] = 50,
) -> JSONResponse:
    """Newest first, with their counts; ``next_cursor`` pages on."""
    service = _service(request)
    name = service.registry.get(app).name if app is not None else None
    page = runs.list_runs(service.store, RunQuery(name, schedule, state, cursor, limit))
    return JSONResponse(
        {"items": [runs.run_view(r) for r in page.items], "next_cursor": page.next_cursor}
    )


def read_run(request: Request, run_id: str) -> JSONResponse:
    """One run: state, checkpoint, counts, and the first rejected records."""
    return JSONResponse(runs.run_view(runs.get_run(_service(request).store, run_id)))


def install(app: FastAPI) -> None:
    tags: list[str | Enum] = ["runs"]
    app.add_api_route(
        "/v1/runs",
        list_runs,
        methods=["GET"],
        responses={200: {"model": RunPageOut}, **PROBLEMS},
        summary="List runs",
        tags=tags,
    )
    app.add_api_route(
        "/v1/runs/{run_id}",
        read_run,
        methods=["GET"],
        responses={200: {"model": RunOut}, **PROBLEMS},
        summary="Read one run",
        tags=tags,
    )
