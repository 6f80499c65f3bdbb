"""Pydantic models that document the API in OpenAPI (``/docs``). Responses are built without
them on the hot path; these describe their shape."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

__all__ = [
    "AttemptOut",
    "BatchResponse",
    "ConnectorOut",
    "DecisionOut",
    "DeliveryChangeIn",
    "DeliveryCountsOut",
    "DeliveryOut",
    "DeliveryPageOut",
    "DisabledConnectorOut",
    "Problem",
    "ReasonOut",
    "RecordError",
    "ReviewIn",
]


class ReasonOut(BaseModel):
    sentence: str
    feature: str
    label: str
    value: str | None
    contribution: float
    """In the model's link space (log-odds for most classifiers)."""
    effect: float
    """Points of probability (classifiers) or target units (regression)."""


class DecisionOut(BaseModel):
    decision_id: str
    entity_id: str
    score: float
    action: str
    status: Literal["decided", "pending_review", "held_out"]
    reasons: list[ReasonOut]
    model_version: str
    predicted_class: str | None = None
    """Multiclass apps only."""


class RecordError(BaseModel):
    record: int | None
    """0-based index of the record in ``records`` (0 for a single record)."""
    entity_id: str | None
    field: str | None
    rule: str
    message: str


class BatchResponse(BaseModel):
    decisions: list[DecisionOut]
    errors: list[RecordError]


class Problem(BaseModel):
    """RFC 9457 problem details (``application/problem+json``)."""

    type: str
    title: str
    status: int
    detail: str
    instance: str
    code: str
    errors: list[RecordError] | None = None


class ReviewIn(BaseModel):
    verdict: Literal["approve", "override"]
    reason: str = Field(min_length=1, max_length=2_000)
    """Why: required, shown in the audit trail."""
    action: str | None = None
    """Override target: an action of the app, or ``none``."""


DeliveryStateOut = Literal["held", "pending", "sending", "delivered", "dead", "cancelled"]


class AttemptOut(BaseModel):
    number: int
    """Counts every attempt of the delivery, also across re-drives."""
    worker: str
    started_at: str
    finished_at: str | None
    outcome: str | None
    """``delivered``, ``retry``, ``failed``, ``gone``, ``expired``; ``null`` while it runs."""
    status: int | None
    detail: str | None


class DeliveryOut(BaseModel):
    delivery_id: str
    decision_id: str | None
    """``None`` for an alert (``action`` is then ``alert.raised``, ``alert.resolved``, ...)."""
    app: str
    action: str
    connector: str
    key: str
    """``{decision_id}:{action}``, sent to receivers as ``webhook-id``; an alert's is
    ``alert:{breach}:{transition}:{connector}``."""
    state: DeliveryStateOut
    attempts: int
    """Attempts in the current cycle (0 again after a retry)."""
    next_attempt_at: str | None
    """When a ``pending`` delivery is due."""
    lease_expires_at: str | None
    """When a ``sending`` delivery's lease ends."""
    last_status: int | None
    last_detail: str | None
    created_at: str
    updated_at: str
    delivered_at: str | None
    history: list[AttemptOut] | None = None
    """Every attempt, oldest first (one delivery read alone only)."""


class DeliveryPageOut(BaseModel):
    items: list[DeliveryOut]
    next_cursor: str | None


class DeliveryChangeIn(BaseModel):
    reason: str | None = Field(default=None, max_length=2_000)
    """Why (optional): recorded in the audit event of the retry or cancel."""


class ConnectorOut(BaseModel):
    app: str
    connector: str
    enabled: bool
    changed: bool
    """False when the connector was not disabled."""


class DisabledConnectorOut(BaseModel):
    connector: str
    disabled_at: str
    detail: str | None


class DeliveryCountsOut(BaseModel):
    app: str
    counts: dict[DeliveryStateOut, int]
    disabled_connectors: list[DisabledConnectorOut]


DECISIONS_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {
                "schema": {
                    "oneOf": [
                        {
                            "type": "object",
                            "title": "One record",
                            "description": "The app's inputs, including the entity id.",
                            "additionalProperties": True,
                        },
                        {
                            "type": "object",
                            "title": "Batch",
                            "required": ["records"],
                            "properties": {
                                "records": {
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
                    "tenure_months": 3,
                    "plan": "basic",
                    "contract": "monthly",
                    "monthly_spend": 29.0,
                    "support_tickets_30d": 4,
                    "late_payments_12m": 1,
                    "logins_30d": 2,
                    "days_since_last_login": 20,
                    "discount_pct": 0,
                    "region": "north",
                    "autopay": False,
                },
            }
        },
    }
}

PROBLEMS: dict[int | str, dict[str, Any]] = {
    status: {"model": Problem, "content": {"application/problem+json": {}}}
    for status in (401, 403, 404, 409, 413, 422, 503)
}
