"""Pydantic models that document the API in OpenAPI (``/docs``). Responses are built without
them on the hot path; these describe their shape."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

from doorstep.services.review.verdicts import REASON_MAX_LENGTH

__all__ = [
    "AppOut",
    "AppsOut",
    "AttemptOut",
    "BatchResponse",
    "ConnectorOut",
    "DecisionOut",
    "DecisionPageOut",
    "DeliveryChangeIn",
    "DeliveryCountsOut",
    "DeliveryOut",
    "DeliveryPageOut",
    "DisabledConnectorOut",
    "HealthOut",
    "Problem",
    "ReadyOut",
    "ReasonOut",
    "RecordError",
    "ReviewIn",
    "RunOut",
    "RunPageOut",
    "StoredDecisionOut",
]


DeliveryStateOut = Literal["held", "pending", "sending", "delivered", "dead", "cancelled"]


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
    lineage: dict[str, Any] | None = None
    """Apps with feature sources: where each input came from (the request, or which source and
    how old its row was; see docs/features.md). ``None`` for apps without sources."""


class DeliverySummaryOut(BaseModel):
    """A delivery of the decision, as shown inside it."""

    delivery_id: str
    action: str
    connector: str
    state: DeliveryStateOut
    attempts: int
    last_detail: str | None


class StoredDecisionOut(BaseModel):
    """A decision read back from the store (inputs marked ``pii`` show ``***`` to roles that do
    not need them)."""

    decision_id: str
    app: str
    entity_id: str
    score: float
    action: str
    status: Literal["decided", "pending_review", "held_out", "approved", "overridden"]
    """``approved`` or ``overridden`` once reviewed."""
    rule: str | None
    review: bool
    control: bool
    final_action: str | None
    """The action taken after review."""
    reasons: list[ReasonOut]
    model_version: str
    model_hash: str
    inputs: dict[str, Any]
    created_at: str
    predicted_class: str | None = None
    """Multiclass apps only."""
    lineage: dict[str, Any] | None = None
    """Apps with feature sources: where each input came from (the request, or a source and how
    old its row was). ``None`` for apps without sources."""
    deliveries: list[DeliverySummaryOut] | None = None
    """One decision read alone only."""


class DecisionPageOut(BaseModel):
    items: list[StoredDecisionOut]
    next_cursor: str | None


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
    reason: str = Field(min_length=1, max_length=REASON_MAX_LENGTH)
    """Why: required, shown in the audit trail (the service enforces the same limit)."""
    action: str | None = None
    """Override target: an action of the app, or ``none``."""


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


class ModelVersionOut(BaseModel):
    app: str
    version: str
    content_hash: str
    owner: str
    stage: Literal["candidate", "shadow", "canary", "champion", "retired"]
    registered_at: str
    notes: str | None = None
    registered_by: str | None = None
    """Who registered it (``doorstep serve`` for the spec's own model)."""
    path: str | None = None
    """Where its file is kept (content-addressed)."""
    reference: str | None = None
    """The reference data it was checked against."""
    canary_share: float | None = None
    """The share of entities it decides, as a canary (0 to 0.5)."""


class AppOut(BaseModel):
    name: str
    owner: str
    description: str | None
    task: Literal["binary", "multiclass", "regression"]
    model_version: str
    model_hash: str
    model_kind: str
    model_versions: list[ModelVersionOut]
    """Every version registered, oldest first."""
    actions: list[str]
    explain_for: list[str]
    decisions_url: str


class AppsOut(BaseModel):
    apps: list[AppOut]


class HealthOut(BaseModel):
    status: Literal["ok"]


class ReadyOut(BaseModel):
    status: Literal["ready"]
    apps: list[str]


class RunErrorOut(BaseModel):
    entity_id: str | None
    field: str | None
    rule: str
    message: str


class RunOut(BaseModel):
    run_id: str
    app: str
    schedule: str | None
    """``None`` for a run started by hand."""
    slot: str | None
    source: str
    state: Literal["running", "succeeded", "failed", "skipped"]
    """``skipped``: a scheduled slot that did not run (``error`` says why)."""
    started_at: str | None
    finished_at: str | None
    checkpoint: str | None
    rows: int
    decided: int
    rejected: int
    deliveries: int
    attempts: int
    runner: str | None
    """Who holds (or last held) it."""
    lease_expires_at: str | None
    """While it runs: until when its runner holds it (renewed with every chunk)."""
    stale: bool
    """Running, but its lease expired: its runner stopped (crashed, killed)."""
    state_detail: str | None
    """What the state means and what happens next, in a sentence."""
    error: str | None
    errors: list[RunErrorOut]
    """The first rejected records."""


class RunPageOut(BaseModel):
    items: list[RunOut]
    next_cursor: str | None


class StreamOut(BaseModel):
    app: str
    stream: str
    source: str
    """The bus: ``nats``, ``redis``, ``rabbitmq``, ``mqtt`` or a plugin's type."""
    consumers: int
    """Consumers that reported within the last minute (0: nobody consumes it now)."""
    lag: int | None
    """Messages waiting on the bus, as the latest report saw (``null``: the bus cannot tell)."""
    messages_per_second: float
    received: int
    decided: int
    duplicates: int
    rejected: int
    dead_letters: int
    errors: int
    last_error: str | None
    last_error_at: str | None
    updated_at: str | None
    """The latest report (``null``: declared by a served spec, never reported on)."""


class StreamsOut(BaseModel):
    streams: list[StreamOut]


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
