"""JSON views of stored objects, as the API shows them."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from doorstep.core.masking import mask_reasons
from doorstep.services.apps.loading import LoadedApp
from doorstep.services.apps.registry import Registry
from doorstep.types import Decision, Delivery

__all__ = ["app_view", "decision_view", "delivery_summary", "delivery_view"]

MASK = "***"


def decision_view(
    record: Decision,
    registry: Registry,
    *,
    pii: bool,
    deliveries: list[Delivery] | None = None,
) -> dict[str, Any]:
    """A stored decision; inputs marked ``pii`` or ``sensitive`` are masked unless ``pii`` is
    true, and so are their values in the reasons. With ``deliveries`` (one decision read alone,
    not lists), a summary of each is added."""
    inputs = record.inputs
    reasons: list[Any] = list(record.reasons or [])
    app = registry.apps.get(record.app)
    if not pii and app is not None:
        hidden = {n for n, f in app.spec.inputs.fields.items() if f.masked}
        inputs = {k: (MASK if k in hidden and v is not None else v) for k, v in inputs.items()}
        reasons = mask_reasons(reasons, hidden)
    view: dict[str, Any] = {
        "decision_id": record.id,
        "app": record.app,
        "entity_id": record.entity_id,
        "score": record.score,
        "action": record.action,
        "status": record.status,
        "rule": record.rule,
        "review": record.review,
        "control": record.control,
        "final_action": record.final_action,
        "reasons": reasons,
        "model_version": record.model_version,
        "model_hash": record.model_hash,
        "inputs": inputs,
        "created_at": record.created_at.isoformat(),
    }
    if record.predicted_class is not None:
        view["predicted_class"] = record.predicted_class
    if record.lineage is not None:
        view["lineage"] = record.lineage
    if deliveries is not None:
        view["deliveries"] = [delivery_summary(d) for d in deliveries]
    return view


def delivery_summary(info: Delivery) -> dict[str, Any]:
    """A delivery as shown inside its decision."""
    return {
        "delivery_id": info.id,
        "action": info.action,
        "connector": info.connector,
        "state": info.state,
        "attempts": info.attempts,
        "last_detail": info.last_detail,
    }


def delivery_view(info: Delivery, *, history: bool = False) -> dict[str, Any]:
    """A delivery of the outbox; with ``history``, every attempt made, oldest first.

    ``next_attempt_at`` is shown for ``pending`` deliveries only (for a ``sending`` one the
    store keeps its lease expiry there, shown as ``lease_expires_at``). Details are redacted by
    the dispatcher before they are stored: no secret reaches this view."""
    view: dict[str, Any] = {
        "delivery_id": info.id,
        "decision_id": info.decision_id,
        "app": info.app,
        "action": info.action,
        "connector": info.connector,
        "key": info.key,
        "state": info.state,
        "attempts": info.attempts,
        "next_attempt_at": _iso(info.next_attempt_at) if info.state == "pending" else None,
        "lease_expires_at": _iso(info.lease_expires_at) if info.state == "sending" else None,
        "last_status": info.last_status,
        "last_detail": info.last_detail,
        "created_at": info.created_at.isoformat(),
        "updated_at": info.updated_at.isoformat(),
        "delivered_at": _iso(info.delivered_at),
    }
    if history:
        view["history"] = [
            {
                "number": a.number,
                "worker": a.worker,
                "started_at": a.started_at.isoformat(),
                "finished_at": _iso(a.finished_at),
                "outcome": a.outcome,
                "status": a.status,
                "detail": a.detail,
            }
            for a in info.history
        ]
    return view


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None


def app_view(app: LoadedApp, versions: list[dict[str, Any]]) -> dict[str, Any]:
    spec = app.spec
    return {
        "name": app.name,
        "owner": spec.app.owner,
        "description": spec.app.description,
        "task": spec.model.task,
        "model_version": app.model_version,
        "model_hash": app.model.metadata.content_hash,
        "model_kind": app.model.metadata.kind,
        "model_versions": [
            {k: (v.isoformat() if hasattr(v, "isoformat") else v) for k, v in row.items()}
            for row in versions
        ],
        "actions": ["none", *spec.actions],
        "explain_for": list(spec.explain.for_),
        "decisions_url": f"/v1/apps/{app.name}/decisions",
    }
