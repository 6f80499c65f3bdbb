"""The outbox over HTTP, as ``doorstep deliveries`` is on the command line: list and read
deliveries, re-drive or cancel one, re-enable a connector, count an app's deliveries by state.
Each route parses, calls :mod:`doorstep.services.deliver.operations` and renders (see
docs/api.md)."""

from __future__ import annotations

from enum import Enum
from typing import Annotated, Any

from fastapi import FastAPI, Query, Request
from fastapi.responses import JSONResponse

from doorstep.core.suggest import did_you_mean
from doorstep.errors import ConflictError, NotFoundError
from doorstep.services.deliver import operations as outbox
from doorstep.store.protocols import DeliveryAdminStore, DeliveryChanges
from doorstep.types import DeliveryState
from doorstep.web.auth import actor_of
from doorstep.web.render import delivery_view
from doorstep.web.schemas import (
    PROBLEMS,
    ConnectorOut,
    DeliveryChangeIn,
    DeliveryCountsOut,
    DeliveryOut,
    DeliveryPageOut,
)
from doorstep.web.service import DecisionService


def _service(request: Request) -> DecisionService:
    service: DecisionService = request.app.state.service
    return service


def list_deliveries(
    request: Request,
    app: str,
    state: DeliveryState | None = None,
    connector: str | None = None,
    decision_id: str | None = None,
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=1_000)] = 100,
) -> JSONResponse:
    """Newest first. Pass ``next_cursor`` (also in the ``Link`` header) as ``cursor`` for the
    next page."""
    service = _service(request)
    name = service.registry.get(app).name
    page = outbox.list_deliveries(
        service.store,
        app=name,
        state=state,
        connector=connector,
        decision_id=decision_id,
        cursor=cursor,
        limit=limit,
    )
    headers = {}
    if page.next_cursor is not None:
        headers["Link"] = (
            f'<{request.url.include_query_params(cursor=page.next_cursor)}>; rel="next"'
        )
    items = [delivery_view(d) for d in page.items]
    return JSONResponse({"items": items, "next_cursor": page.next_cursor}, headers=headers)


def read_delivery(request: Request, delivery_id: str) -> JSONResponse:
    """One delivery with every attempt made (``history``, oldest first)."""
    info = outbox.get_delivery(_service(request).store, delivery_id)
    return JSONResponse(delivery_view(info, history=True))


def retry_delivery(
    request: Request, delivery_id: str, body: DeliveryChangeIn | None = None
) -> JSONResponse:
    """Send a ``dead`` or ``cancelled`` delivery again, from a fresh cycle of attempts. The
    body's ``reason`` is recorded in the audit event (``deliveries.retried``)."""
    store = _service(request).store
    reason = None if body is None else body.reason
    changes = outbox.retry_deliveries(store, [delivery_id], actor=actor_of(request), reason=reason)
    _check(store, changes, delivery_id, "retried", "dead or cancelled")
    return JSONResponse(delivery_view(outbox.get_delivery(store, delivery_id), history=True))


def cancel_delivery(
    request: Request, delivery_id: str, body: DeliveryChangeIn | None = None
) -> JSONResponse:
    """Cancel a ``held``, ``pending`` or ``dead`` delivery: it is never sent (retry undoes it).
    The body's ``reason`` is recorded in the audit event (``deliveries.cancelled``) and the
    delivery's last detail."""
    store = _service(request).store
    reason = None if body is None else body.reason
    changes = outbox.cancel_deliveries(store, [delivery_id], actor=actor_of(request), reason=reason)
    _check(store, changes, delivery_id, "cancelled", "held, pending or dead")
    return JSONResponse(delivery_view(outbox.get_delivery(store, delivery_id), history=True))


def _check(
    store: DeliveryAdminStore, changes: DeliveryChanges, delivery_id: str, verb: str, allowed: str
) -> None:
    """404 when the delivery does not exist, 409 when its state does not allow the change."""
    if changes.missing:
        outbox.get_delivery(store, delivery_id)  # raises NotFoundError
    state = changes.skipped.get(delivery_id)
    if state is not None:
        raise ConflictError(
            f"Delivery {delivery_id!r} is {state}: only {allowed} deliveries can be {verb}."
        )


def enable_connector(request: Request, app: str, connector: str) -> JSONResponse:
    """Send to a connector again after its target answered HTTP 410 Gone."""
    service = _service(request)
    loaded = service.registry.get(app)
    known = loaded.spec.connectors
    if connector not in known:
        names = ", ".join(repr(n) for n in known) or "none"
        raise NotFoundError(
            f"App {loaded.name!r} has no connector {connector!r}"
            f"{did_you_mean(connector, known)}. Its connectors: {names}."
        )
    actor = actor_of(request)
    changed = outbox.enable_connector(service.store, loaded.name, connector, actor=actor)
    return JSONResponse(
        {"app": loaded.name, "connector": connector, "enabled": True, "changed": changed}
    )


def delivery_counts(request: Request, app: str) -> JSONResponse:
    """The app's deliveries by state, and its connectors disabled by a 410 Gone."""
    service = _service(request)
    name = service.registry.get(app).name
    disabled: list[dict[str, Any]] = [
        {
            "connector": c.connector,
            "disabled_at": c.disabled_at.isoformat(),
            "detail": c.detail,
        }
        for c in outbox.connector_states(service.store, name)
    ]
    counts = outbox.delivery_counts(service.store, name)
    return JSONResponse({"app": name, "counts": counts, "disabled_connectors": disabled})


def install(app: FastAPI) -> None:
    tags: list[str | Enum] = ["deliveries"]
    for path, endpoint, method, model, summary in (
        ("/v1/apps/{app}/deliveries", list_deliveries, "GET", DeliveryPageOut,
         "List an app's deliveries"),
        ("/v1/apps/{app}/delivery-counts", delivery_counts, "GET", DeliveryCountsOut,
         "Count an app's deliveries by state"),
        ("/v1/deliveries/{delivery_id}", read_delivery, "GET", DeliveryOut,
         "Read one delivery and its attempts"),
        ("/v1/deliveries/{delivery_id}/retry", retry_delivery, "POST", DeliveryOut,
         "Send a dead or cancelled delivery again"),
        ("/v1/deliveries/{delivery_id}/cancel", cancel_delivery, "POST", DeliveryOut,
         "Cancel a delivery"),
        ("/v1/apps/{app}/connectors/{connector}/enable", enable_connector, "POST", ConnectorOut,
         "Re-enable a connector disabled by HTTP 410"),
    ):  # fmt: skip
        app.add_api_route(
            path,
            endpoint,
            methods=[method],
            responses={200: {"model": model}, **PROBLEMS},
            summary=summary,
            tags=tags,
        )
