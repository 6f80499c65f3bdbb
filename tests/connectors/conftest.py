"""Fixtures shared by the connector tests: deliveries with a realistic context."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Callable
from typing import Any

import pytest

from doorstep.connectors.base import Message

DeliveryFactory = Callable[..., Message]


def decision_context(**changes: Any) -> dict[str, Any]:
    """What templates see for one churn decision (see ``Message.context``)."""
    decision_id = changes.pop("decision_id", "0197a3c2-5b1e-7c40-9d2e-3f6a1b2c4d5e")
    reasons: list[dict[str, Any]] = [
        {
            "sentence": "Support tickets (7) raise the churn risk by 0.21",
            "feature": "tickets_90d",
            "label": "Support tickets",
            "value": 7,
            "contribution": 0.21,
            "effect": "raises",
        },
        {
            "sentence": "Plan <Basic> & monthly billing raise the churn risk by 0.08",
            "feature": "plan",
            "label": "Plan",
            "value": "<Basic>",
            "contribution": 0.08,
            "effect": "raises",
        },
        {
            "sentence": "Tenure (38 months) lowers the churn risk by 0.05",
            "feature": "tenure_months",
            "label": "Tenure",
            "value": 38,
            "contribution": -0.05,
            "effect": "lowers",
        },
    ]
    context: dict[str, Any] = {
        "decision_id": decision_id,
        "app": "churn",
        "entity_id": "C-1042",
        "score": 0.8731,
        "action": "retention_offer",
        "status": "decided",
        "rule": "high_risk",
        "reasons": reasons,
        "reasons_text": "; ".join(r["sentence"] for r in reasons),
        "inputs": {
            "customer_id": "C-1042",
            "tickets_90d": 7,
            "plan": "<Basic>",
            "tenure_months": 38,
            "account_manager": "ana@example.com",
        },
        "model_version": "churn-lgbm-2024-06",
        "created_at": "2024-06-03T09:14:07.512000+00:00",
        "decision_url": f"https://doorstep.example.com/apps/churn/decisions/{decision_id}",
    }
    context.update(changes)
    return context


@pytest.fixture
def delivery() -> DeliveryFactory:
    """Build a :class:`Message`; keyword arguments override its fields, ``context`` entries
    are merged into the default context (``key`` defaults to a digest of the decision id and
    action, as the dispatcher's key is stable across attempts)."""

    def make(
        *, context: dict[str, Any] | None = None, payload: Any = None, **fields: Any
    ) -> Message:
        merged = decision_context(**(context or {}))
        action = fields.pop("action", merged["action"])
        key = hashlib.sha256(f"{merged['decision_id']}:{action}".encode()).hexdigest()[:32]
        values: dict[str, Any] = {
            "id": str(uuid.uuid4()),
            "key": f"dlv_{key}",
            "app": merged["app"],
            "action": action,
            "connector": "target",
            "attempt": 1,
            "context": merged,
            "payload": (
                payload
                if payload is not None
                else {
                    "customer_id": merged["entity_id"],
                    "score": merged["score"],
                    "offer": "discount_20",
                }
            ),
        }
        values.update(fields)
        return Message(**values)

    return make
