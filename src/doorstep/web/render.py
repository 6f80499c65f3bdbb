"""JSON views of stored objects, as the API shows them."""

from __future__ import annotations

from typing import Any

from doorstep.services.app import LoadedApp
from doorstep.services.registry import Registry
from doorstep.store.contract import DecisionRecord

__all__ = ["app_view", "decision_view"]

MASK = "***"


def decision_view(record: DecisionRecord, registry: Registry, *, pii: bool) -> dict[str, Any]:
    """A stored decision; inputs marked ``pii`` are masked unless ``pii`` is true."""
    inputs = record.inputs
    app = registry.apps.get(record.app)
    if not pii and app is not None:
        hidden = {n for n, f in app.spec.inputs.fields.items() if f.pii}
        inputs = {k: (MASK if k in hidden and v is not None else v) for k, v in inputs.items()}
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
        "reasons": record.reasons or [],
        "model_version": record.model_version,
        "model_hash": record.model_hash,
        "inputs": inputs,
        "created_at": record.created_at.isoformat(),
    }
    if record.predicted_class is not None:
        view["predicted_class"] = record.predicted_class
    return view


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
