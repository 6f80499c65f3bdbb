"""``POST /v1/apps/{app}/models/backtest`` (a candidate model replayed over stored decisions)
and ``GET /v1/apps/{app}/models/compare`` (champion against challenger on live outcomes). Each
parses, calls a service of :mod:`doorstep.services.rollout` and renders its JSON."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from enum import Enum
from pathlib import Path
from typing import Annotated, Any, Literal

import anyio.to_thread
from fastapi import FastAPI, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel, Field

from doorstep.errors import InputError
from doorstep.services.apps.loading import with_model
from doorstep.services.decide.online import encode_json
from doorstep.services.monitor.report import MAX_WINDOWS
from doorstep.services.rollout.backtest import backtest
from doorstep.services.rollout.compare import compare_versions
from doorstep.services.rollout.serving import registered_version
from doorstep.web.rollout_schemas import BacktestOut, ComparisonOut
from doorstep.web.schemas import PROBLEMS
from doorstep.web.service import DecisionService

__all__ = ["BacktestIn", "install"]


class BacktestIn(BaseModel):
    """A backtest: the candidate, a registered version (``version`` alone) or a model file not
    registered (``model``, a path inside the app's folder, where the spec is, and the name
    ``version`` it goes by), and the range (``days`` back from now, or ``since``/``until``;
    default: 30 days)."""

    model: str | None = Field(default=None, examples=["model-v2.lgb.txt"])
    version: str = Field(min_length=1, max_length=200, examples=["2"])
    since: datetime | None = None
    until: datetime | None = None
    days: int | None = Field(default=None, ge=1, le=3660)
    sample: int = Field(default=20, ge=0, le=1000)


def _service(request: Request) -> DecisionService:
    service: DecisionService = request.app.state.service
    return service


def _inside(root: Path, name: str) -> Path:
    """``name`` under the app's folder, refusing paths that leave it."""
    path = (root / name).resolve()
    if not path.is_relative_to(root.resolve()) or not path.exists():
        raise InputError(
            f"'model' must name a model file inside the app's folder ({root}); got {name!r}, "
            "which is outside it or does not exist."
        )
    return path


async def post_backtest(request: Request, app: str, body: BacktestIn) -> Response:
    """Replay the app's stored decisions of the range through a candidate model: the flips
    (a transition matrix), review load and control group, quality and expected value of both
    models on the decisions with outcomes, a sample of flips with both models' reasons, and
    a verdict (the JSON of ``doorstep models backtest --json``). Runs while the request waits."""
    service = _service(request)
    loaded = service.registry.get(app)
    if body.days is not None and (body.since is not None or body.until is not None):
        raise InputError("Give 'days' or 'since'/'until', not both.")
    since, until = body.since, body.until
    if since is None and until is None:
        until = datetime.now(UTC)
        since = until - timedelta(days=body.days or 30)
    path = None if body.model is None else _inside(loaded.root, body.model)
    champion = replace(loaded, canary=None, shadow=None)

    def run() -> dict[str, Any]:
        candidate = (
            registered_version(champion, service.store, body.version)
            if path is None
            else with_model(champion, path, version=body.version)
        )
        found = backtest(champion, candidate, service.store, since=since, until=until,
                         sample=body.sample)  # fmt: skip
        return found.as_dict()

    return _json(await anyio.to_thread.run_sync(run))


def read_compare(
    request: Request,
    app: str,
    challenger: str | None = None,
    champion: str | None = None,
    window: Literal["hour", "day", "week"] | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    periods: Annotated[int | None, Query(ge=1, le=MAX_WINDOWS)] = None,
    mode: Literal["shadow", "canary"] | None = None,
) -> Response:
    """Champion (default: the version the app serves) against a challenger (default: the
    other version with the most decisions or shadow rows in the range): quality per window with
    intervals, ROI per version, override rates, the difference with its interval (paired on a
    shadow, unpaired on a canary) and a verdict (the JSON of ``doorstep models compare``)."""
    service = _service(request)
    loaded = service.registry.get(app)
    found = compare_versions(
        loaded.spec, service.store, champion=champion or loaded.model_version,
        challenger=challenger, window=window, since=since, until=until, periods=periods,
        mode=mode,
    )  # fmt: skip
    return _json(found.as_dict())


def _json(content: dict[str, Any]) -> Response:
    return Response(encode_json(content), media_type="application/json")


def install(app: FastAPI) -> None:
    tags: list[str | Enum] = ["models"]
    app.add_api_route(
        "/v1/apps/{app}/models/backtest",
        post_backtest,
        methods=["POST"],
        responses={200: {"model": BacktestOut}, **PROBLEMS},
        summary="Backtest a candidate model on stored decisions",
        tags=tags,
    )
    app.add_api_route(
        "/v1/apps/{app}/models/compare",
        read_compare,
        methods=["GET"],
        responses={200: {"model": ComparisonOut}, **PROBLEMS},
        summary="Champion against challenger on live outcomes",
        tags=tags,
    )
