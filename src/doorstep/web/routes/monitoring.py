"""``POST /v1/apps/{app}/outcomes`` (what really happened) and ``GET /v1/apps/{app}/monitoring``
(live quality, overrides and ROI). Each parses, calls a service and renders."""

from __future__ import annotations

from datetime import datetime
from enum import Enum
from typing import Annotated, Any

import anyio.to_thread
from fastapi import FastAPI, Query, Request
from fastapi.responses import Response

from doorstep.core.bodies import parse_one_or_many
from doorstep.core.windows import WINDOW_PATTERN
from doorstep.errors import RecordsInvalidError
from doorstep.services.decide.online import encode_json
from doorstep.services.monitor.drift import drift_thresholds
from doorstep.services.monitor.report import MAX_WINDOWS, monitoring_report
from doorstep.services.monitor.versions import with_versions
from doorstep.services.outcomes.ingest import record_outcomes
from doorstep.web.auth import actor_of
from doorstep.web.monitoring_schemas import MonitoringOut, OutcomesOut
from doorstep.web.schemas import PROBLEMS
from doorstep.web.service import DecisionService

OUTCOMES_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {
                "schema": {
                    "oneOf": [
                        {"type": "object", "title": "One outcome"},
                        {
                            "type": "object",
                            "title": "Batch",
                            "required": ["outcomes"],
                            "properties": {
                                "outcomes": {
                                    "type": "array",
                                    "items": {"type": "object"},
                                    "maxItems": 1000,
                                }
                            },
                        },
                    ]
                },
                "example": {
                    "customer_id": "C-1",
                    "churned": 1,
                    "observed_at": "2025-05-01T09:30:00Z",
                },
            }
        },
    }
}


def _service(request: Request) -> DecisionService:
    service: DecisionService = request.app.state.service
    return service


async def post_outcomes(request: Request, app: str) -> Response:
    """Record what really happened: one outcome (a JSON object) or ``{"outcomes": [...]}``.

    Each outcome names ``decision_id``, or the entity (``entity_id`` or the app's id field),
    gives the label or value under the spec's ``monitoring.outcome.field``, and says when it was
    observed (``observed_at``, ISO 8601). Keyed by entity, it belongs to the entity's latest
    decision within the outcome horizon. Sending an outcome again records nothing
    (``duplicates``); outcomes matching no decision are kept and listed in
    ``unmatched_records``. A batch answers 200 with refused outcomes in ``errors``; a refused
    single outcome answers 422."""
    service = _service(request)
    loaded = service.registry.get(app)
    body = await request.body()  # within the body limit (web.guards.BodyLimit)
    records, single = parse_one_or_many(
        body, key="outcomes", noun="outcome", max_items=service.settings.max_records
    )
    result, errors = await anyio.to_thread.run_sync(
        lambda: record_outcomes(loaded.spec, service.store, records, actor=actor_of(request))
    )
    if single and errors:
        detail = "; ".join(e.message for e in errors)
        raise RecordsInvalidError(f"The outcome was not recorded: {detail}", errors)
    answer = {
        "recorded": result.recorded,
        "matched": result.matched,
        "unmatched": dict(sorted(result.unmatched.items())),
        "unmatched_records": [
            {"record": row, "reason": reason} for row, reason in sorted(result.unmatched_rows)
        ],
        "duplicates": result.duplicates,
        "errors": errors,
    }
    return _json(answer)


def read_monitoring(
    request: Request,
    app: str,
    window: Annotated[str | None, Query(pattern=WINDOW_PATTERN)] = None,
    since: datetime | None = None,
    until: datetime | None = None,
    periods: Annotated[int | None, Query(ge=1, le=MAX_WINDOWS)] = None,
) -> Response:
    """Live quality per window and overall, human overrides, and ROI against the control group,
    for decisions made in ``[since, until)``. ``window`` defaults to the spec's
    ``monitoring.window``; without ``since``, the last ``periods`` windows (48 hours, 30 days or
    26 weeks) up to the current one. ``drift`` compares each window's inputs and scores with
    the spec's reference data (``null`` when the spec names none). ``versions`` compares the
    champion with its challenger (a shadow or a canary) and each version's scores, as
    ``doorstep monitor`` does (``null`` with one version only and no challenger)."""
    service = _service(request)
    loaded = service.registry.get(app)
    profile = service.profiles.get(loaded)
    thresholds = drift_thresholds(loaded.spec)
    report = monitoring_report(
        loaded.spec,
        service.store,
        window=window,
        since=since,
        until=until,
        periods=periods,
        profile=profile,
        thresholds=thresholds,
    )
    report = with_versions(
        loaded.spec, service.store, report, profile=profile, thresholds=thresholds
    )
    return _json(report.to_dict())


def _json(content: dict[str, Any]) -> Response:
    """JSON as the decisions route writes it (an unmeasurable number is ``null``)."""
    return Response(encode_json(content), media_type="application/json")


def install(app: FastAPI) -> None:
    tags: list[str | Enum] = ["monitoring"]
    app.add_api_route(
        "/v1/apps/{app}/outcomes",
        post_outcomes,
        methods=["POST"],
        responses={200: {"model": OutcomesOut}, **PROBLEMS},
        summary="Record outcomes: what really happened after decisions",
        tags=tags,
        openapi_extra=OUTCOMES_BODY,
    )
    app.add_api_route(
        "/v1/apps/{app}/monitoring",
        read_monitoring,
        methods=["GET"],
        responses={200: {"model": MonitoringOut}, **PROBLEMS},
        summary="Live quality, overrides, ROI against the control group, and drift",
        tags=tags,
    )
