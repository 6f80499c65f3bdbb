"""``/v1/apps/{app}/models``: model versions registered, tried in shadow or canary, promoted with
four eyes and rolled back — as ``doorstep models`` does. A change made here is served by this
process before the answer is sent, by the others within their stage poll."""

from __future__ import annotations

from collections.abc import Callable
from enum import Enum
from pathlib import Path
from typing import Annotated, Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from doorstep.services.rollout import promotion, stages
from doorstep.services.rollout.files import MODELS_FOLDER
from doorstep.services.rollout.register import register_version
from doorstep.services.rollout.stages import Caller
from doorstep.services.rollout.views import models_view, plain
from doorstep.store.protocols import ApiKey
from doorstep.web.auth import actor_of
from doorstep.web.model_schemas import ModelsOut, PromotionOut
from doorstep.web.schemas import PROBLEMS, ModelVersionOut
from doorstep.web.service import DecisionService

Reason = Annotated[str, Field(min_length=1, max_length=2_000)]


class RegisterIn(BaseModel):
    path: str
    """The model file or MLflow folder, as the server's machine sees it."""
    version: Annotated[str, Field(min_length=1, max_length=200)]
    notes: str | None = None


class ReasonIn(BaseModel):
    reason: Reason
    """Why: required, kept in the audit trail."""


class CanaryIn(BaseModel):
    share: Annotated[float, Field(gt=0, le=50)]
    """Percent of the entities the canary decides (above 0, at most 50)."""
    reason: str = ""


def _service(request: Request) -> DecisionService:
    service: DecisionService = request.app.state.service
    return service


def _caller(request: Request) -> Caller:
    key: ApiKey | None = getattr(request.state, "key", None)
    return Caller(actor_of(request), key)


def _changed(service: DecisionService) -> None:
    """Serve the change in this process before answering (routes run in worker threads)."""
    service.live.refresh(service.store)


def _view(service: DecisionService, name: str) -> JSONResponse:
    app = service.registry.get(name)
    return JSONResponse(models_view(service.store, app.spec, serving=app.model_version))


def list_models(request: Request, app: str) -> JSONResponse:
    """Versions and their stages, the pending promotion, the stage history, the governance."""
    return _view(_service(request), app)


def register_model(request: Request, app: str, body: RegisterIn) -> JSONResponse:
    """Check a model file against the app (as at load time) and register it as a candidate;
    422 ``spec_invalid`` when it does not fit, located in the spec."""
    service = _service(request)
    loaded = service.live.base.get(app)
    models = Path(service.settings.home) / MODELS_FOLDER
    registered = register_version(
        loaded,
        service.store,
        Path(body.path),
        version=body.version,
        models=models,
        actor=actor_of(request),
        notes=body.notes,
    )
    # 201 for a version new to the store; 200 when that file was registered as it already
    return JSONResponse(plain(registered.version), status_code=201 if registered.created else 200)


def promote(request: Request, app: str, version: str, body: ReasonIn) -> JSONResponse:
    """Request a promotion to champion; it waits for approvals by other keys."""
    service = _service(request)
    spec = service.registry.get(app).spec
    found = promotion.request_promotion(
        service.store, spec, version, caller=_caller(request), reason=body.reason
    )
    return JSONResponse(plain(found), status_code=201)  # a pending request, made


def approve(request: Request, app: str, version: str, body: ReasonIn) -> JSONResponse:
    """Approve a pending promotion (another key than the requester's, role owner or admin);
    the last approval needed switches the champion."""
    service = _service(request)
    spec = service.registry.get(app).spec
    found = promotion.approve_promotion(
        service.store, spec, version, caller=_caller(request), reason=body.reason
    )
    _changed(service)
    return JSONResponse(plain(found))


def withdraw(request: Request, app: str, version: str, body: ReasonIn) -> JSONResponse:
    """Withdraw a pending promotion."""
    service = _service(request)
    name = service.registry.get(app).name
    found = promotion.withdraw_promotion(
        service.store, name, version, caller=_caller(request), reason=body.reason
    )
    return JSONResponse(plain(found))


def rollback(request: Request, app: str, body: ReasonIn) -> JSONResponse:
    """Make the previous champion the champion again, at once."""
    service = _service(request)
    name = service.registry.get(app).name
    stages.rollback(service.store, name, caller=_caller(request), reason=body.reason)
    _changed(service)
    return _view(service, name)


def canary(request: Request, app: str, version: str, body: CanaryIn) -> JSONResponse:
    """Let a version decide a share of the entities (or change its share)."""
    service = _service(request)
    name = service.registry.get(app).name
    stages.start_canary(
        service.store, name, version, body.share / 100, caller=_caller(request), reason=body.reason
    )
    _changed(service)
    return _view(service, name)


def shadow(request: Request, app: str, version: str, body: ReasonIn) -> JSONResponse:
    """Let a version score every request beside the champion, never acted on."""
    service = _service(request)
    name = service.registry.get(app).name
    stages.start_shadow(service.store, name, version, caller=_caller(request), reason=body.reason)
    _changed(service)
    return _view(service, name)


def stop(request: Request, app: str, stage: str, body: ReasonIn) -> JSONResponse:
    """Stop the canary or the shadow: the version goes back to ``candidate``."""
    service = _service(request)
    name = service.registry.get(app).name
    stop_stage = stages.stop_canary if stage == "canary" else stages.stop_shadow
    stop_stage(service.store, name, caller=_caller(request), reason=body.reason)
    _changed(service)
    return _view(service, name)


def stop_canary(request: Request, app: str, body: ReasonIn) -> JSONResponse:
    """Stop the canary: the champion decides every entity again."""
    return stop(request, app, "canary", body)


def stop_shadow(request: Request, app: str, body: ReasonIn) -> JSONResponse:
    """Stop the shadow."""
    return stop(request, app, "shadow", body)


def install(app: FastAPI) -> None:
    tags: list[str | Enum] = ["models"]
    one = "/v1/apps/{app}/models/{version}"
    promoted: type[BaseModel] = PromotionOut
    made: dict[int | str, dict[str, Any]] = {
        201: {"model": ModelVersionOut, "description": "Registered (the version is new)"},
        200: {"model": ModelVersionOut, "description": "Registered already with this file"},
    }
    asked: dict[int | str, dict[str, Any]] = {
        201: {"model": PromotionOut, "description": "The promotion requested, pending"}
    }
    answers = {register_model: made, promote: asked}
    routes: list[tuple[str, Callable[..., JSONResponse], str, str, type[BaseModel]]] = [
        ("/v1/apps/{app}/models", list_models, "GET", "List model versions", ModelsOut),
        ("/v1/apps/{app}/models", register_model, "POST", "Register a version", ModelVersionOut),
        (f"{one}/promote", promote, "POST", "Request a promotion", promoted),
        (f"{one}/approve", approve, "POST", "Approve a promotion", promoted),
        (f"{one}/withdraw", withdraw, "POST", "Withdraw a promotion", promoted),
        (f"{one}/canary", canary, "POST", "Start a canary", ModelsOut),
        (f"{one}/shadow", shadow, "POST", "Start a shadow", ModelsOut),
        ("/v1/apps/{app}/rollback", rollback, "POST", "Roll back the champion", ModelsOut),
        ("/v1/apps/{app}/canary/stop", stop_canary, "POST", "Stop the canary", ModelsOut),
        ("/v1/apps/{app}/shadow/stop", stop_shadow, "POST", "Stop the shadow", ModelsOut),
    ]  # fmt: skip
    for path, endpoint, method, summary, model in routes:
        app.add_api_route(
            path,
            endpoint,
            methods=[method],
            status_code=201 if endpoint in (register_model, promote) else 200,
            responses={**answers.get(endpoint, {200: {"model": model}}), **PROBLEMS},
            summary=summary,
            tags=tags,
        )
