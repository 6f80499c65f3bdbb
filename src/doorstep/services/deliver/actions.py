"""Deliveries: which actions of which decisions go to the outbox. The connectors that carry
them are :mod:`doorstep.services.deliver.connectors`; the dispatcher that sends them is
:mod:`doorstep.services.deliver.dispatcher`; the operators' commands (list, retry, cancel,
enable) are :mod:`doorstep.services.deliver.operations`.

A decision gets one delivery when its action is not ``none``, it is not in the control group
(control decisions record the would-be action and deliver nothing) and the action names a
connector. The delivery is ``held`` while the decision waits for review and ``pending``
otherwise; it is written in the same transaction as the decision (see
:class:`doorstep.store.protocols.RecordRequest`).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, Protocol

from doorstep.core.spec.models import Spec
from doorstep.ids import new_id
from doorstep.store.canonical import iso
from doorstep.store.protocols import DeliveryRecord
from doorstep.types import Decision

__all__ = [
    "HasSpec",
    "decision_url",
    "declared_inputs",
    "deliveries_for",
    "delivery_for",
    "delivery_context",
    "delivery_key",
]

NO_ACTION = "none"


class HasSpec(Protocol):
    """Anything holding an app's spec: a :class:`~doorstep.services.apps.loading.LoadedApp`, a
    :class:`~doorstep.services.deliver.connectors.SpecFile`, an
    :class:`~doorstep.services.deliver.connectors.AppConnectors`."""

    @property
    def spec(self) -> Spec: ...


def delivery_key(decision_id: str, action: str) -> str:
    """The stable idempotency key of (decision, action), e.g. ``0193…c2:retention_offer``: the
    same on every attempt, worker and re-drive; sent to receivers as ``webhook-id``."""
    return f"{decision_id}:{action}"


def delivery_for(
    spec: Spec, decision: Decision, action: str, *, held: bool, now: datetime | None = None
) -> DeliveryRecord | None:
    """The delivery of ``action`` for ``decision``, or ``None`` when the action delivers nothing
    (``none``, or no connector)."""
    if action == NO_ACTION:
        return None
    declared = spec.actions.get(action)
    if declared is None or declared.connector is None:
        return None
    moment = now or datetime.now(UTC)
    return DeliveryRecord(
        id=new_id(),
        decision_id=decision.id,
        app=decision.app,
        action=action,
        connector=declared.connector,
        key=delivery_key(decision.id, action),
        state="held" if held else "pending",
        created_at=moment,
    )


def deliveries_for(app: HasSpec, decisions: Sequence[Decision]) -> list[DeliveryRecord]:
    """The outbox rows of freshly made ``decisions`` (see the module docstring)."""
    spec = app.spec
    now = datetime.now(UTC)
    out: list[DeliveryRecord] = []
    for decision in decisions:
        if decision.control or decision.status == "held_out":
            continue
        record = delivery_for(
            spec, decision, decision.action, held=decision.status == "pending_review", now=now
        )
        if record is not None:
            out.append(record)
    return out


def decision_url(public_url: str | None, decision_id: str) -> str:
    """The decision's page, where people read it and review it (empty without a public URL);
    the JSON stays at ``/v1/decisions/{id}``."""
    if not public_url:
        return ""
    return f"{public_url.rstrip('/')}/decisions/{decision_id}"


def declared_inputs(spec: Spec) -> list[str]:
    """The names a template may read under ``inputs``: the id field and every declared field."""
    return [spec.inputs.id, *spec.inputs.fields]


def delivery_context(
    spec: Spec, decision: Decision, action: str, *, public_url: str | None = None
) -> dict[str, Any]:
    """What payload templates see (see :attr:`doorstep.connectors.base.Message.context`).

    ``inputs`` holds every field the spec declares: an optional one the record left out is
    ``None``, as if it had been sent as ``null`` (a template naming it renders, as ``validate``
    checked it would)."""
    context: dict[str, Any] = {
        "decision_id": decision.id,
        "app": decision.app,
        "entity_id": decision.entity_id,
        "score": decision.score,
        "action": action,
        "status": decision.status,
        "rule": decision.rule,
        "reasons": decision.reasons or [],
        "reasons_text": decision.reasons_text or "",
        "inputs": {name: None for name in declared_inputs(spec)} | decision.inputs,
        "model_version": decision.model_version,
        "created_at": iso(decision.created_at),
        "decision_url": decision_url(public_url, decision.id),
    }
    if decision.predicted_class is not None:
        context["predicted_class"] = decision.predicted_class
    return context
