"""``/v1/runs``: batch runs from feature sources (scheduled or started by hand), as ``doorstep
runs list|show`` shows them; a failed scheduled run handed back to the scheduler (``resume``)."""

from __future__ import annotations

from enum import Enum
from typing import Annotated, Literal

from fastapi import FastAPI, Query, Request
from fastapi.responses import JSONResponse

from doorstep.services.runs import resume as resuming
from doorstep.services.runs import views as runs
from doorstep.store.runs import RunQuery
from doorstep.web.auth import actor_of
from doorstep.web.schemas import PROBLEMS, RunOut, RunPageOut
from doorstep.web.service import DecisionService


def _service(request: Request) -> DecisionService:
    service: DecisionService = request.app.state.service
    return service


def list_runs(
    request: Request,
    app: str | None = None,
    schedule: str | None = None,
    state: Literal["running", "succeeded", "failed", "skipped", "stale"] | None = None,
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=1_000)] = 50,
) -> JSONResponse:
    """Newest first, with their counts; ``next_cursor`` pages on. ``state=stale``: running runs
    whose lease has expired (their runner stopped)."""
    service = _service(request)
    name = service.registry.get(app).name if app is not None else None
    page = runs.list_runs(service.store, RunQuery(name, schedule, state, cursor, limit))
    return JSONResponse(
        {"items": [runs.run_view(r) for r in page.items], "next_cursor": page.next_cursor}
    )


def read_run(request: Request, run_id: str) -> JSONResponse:
    """One run: state, checkpoint, counts, and the first rejected records."""
    return JSONResponse(runs.run_view(runs.get_run(_service(request).store, run_id)))


def resume_run(request: Request, run_id: str) -> JSONResponse:
    """A failed scheduled run, or one whose runner died, handed back to the scheduler: running
    again under the same id, it goes on after its checkpoint on the scheduler's next tick, and
    its decisions keep their ids. The run as it is now; 409 ``conflict`` for a run that
    succeeded, was skipped, is held by a live runner, or was started by hand."""
    run = resuming.requeue_run(_service(request).store, run_id, actor=actor_of(request))
    return JSONResponse(runs.run_view(run))


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
    app.add_api_route(
        "/v1/runs/{run_id}/resume",
        resume_run,
        methods=["POST"],
        responses={200: {"model": RunOut}, **PROBLEMS},
        summary="Resume a failed run",
        tags=tags,
    )
