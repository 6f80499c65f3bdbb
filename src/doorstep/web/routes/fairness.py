"""``GET /v1/apps/{app}/fairness``: fairness of an app's stored decisions by its sensitive
attributes. Parses, calls :func:`doorstep.services.monitor.fairness.fairness_report`, renders."""

from __future__ import annotations

from datetime import datetime
from enum import Enum
from typing import Annotated

import anyio.to_thread
from fastapi import FastAPI, Query, Request
from fastapi.responses import Response

from doorstep.services.decide.online import encode_json
from doorstep.services.monitor.fairness import fairness_report
from doorstep.web.fairness_schemas import FairnessOut
from doorstep.web.schemas import PROBLEMS
from doorstep.web.service import DecisionService


async def read_fairness(
    request: Request,
    app: str,
    by: Annotated[list[str] | None, Query()] = None,
    since: datetime | None = None,
    until: datetime | None = None,
    version: str | None = None,
) -> Response:
    """Per group of each sensitive attribute (``by``, repeatable: a field marked ``sensitive``
    or a band of ``monitoring.fairness.bands``; default all): selection rate of each action,
    demographic-parity difference and ratio and, where outcomes exist, true and false positive
    rates, equalized-odds difference and calibration, each with its 95% interval. Groups
    under ``monitoring.fairness.min_group`` decisions are listed in ``too_few``. Decisions made
    in ``[since, until)`` (default: the range of ``/monitoring``), of one model ``version``
    when given."""
    service: DecisionService = request.app.state.service
    loaded = service.registry.get(app)
    report = await anyio.to_thread.run_sync(
        lambda: fairness_report(
            loaded.spec, service.store, by=by or (), since=since, until=until, version=version
        )
    )
    return Response(encode_json(report.to_dict()), media_type="application/json")


def install(app: FastAPI) -> None:
    tags: list[str | Enum] = ["monitoring"]
    app.add_api_route(
        "/v1/apps/{app}/fairness",
        read_fairness,
        methods=["GET"],
        responses={200: {"model": FairnessOut}, **PROBLEMS},
        summary="Fairness of decisions by sensitive attributes, with intervals",
        tags=tags,
    )
