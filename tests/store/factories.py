"""Decisions and requests for store tests."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Literal

from doorstep.ids import new_id
from doorstep.store import DeliveryRecord, RecordRequest
from doorstep.types import Decision


def decision(
    i: int = 0, *, app: str = "churn", status: str = "decided", **changes: Any
) -> Decision:
    values: dict[str, Any] = {
        "id": new_id(),
        "app": app,
        "entity_id": f"C-{i}",
        "model_version": "v1",
        "model_hash": "f" * 64,
        "inputs": {"tenure_months": i, "plan": "basic", "monthly_spend": 12.5, "email": None},
        "score": 0.25 + i / 10_000,
        "action": "retention_offer",
        "rule": "score >= 0.5",
        "review": status == "pending_review",
        "control": status == "held_out",
        "status": status,
        "reasons": [
            {
                "feature": "tenure_months",
                "label": "Months as a customer",
                "value": str(i),
                "contribution": 0.42,
                "effect": 9.5,
                "sentence": "Months as a customer: 3 — raises churn risk by 9 points",
            }
        ],
        "reasons_text": "Months as a customer: 3 — raises churn risk by 9 points",
        "created_at": datetime.now(UTC),
    }
    values.update(changes)
    return Decision(**values)


def request(n: int = 1, **kwargs: Any) -> RecordRequest:
    status = kwargs.pop("status", "decided")
    return RecordRequest(decisions=[decision(i, status=status) for i in range(n)], **kwargs)


def delivery(
    record: Decision,
    *,
    action: str | None = None,
    connector: str = "crm",
    state: Literal["held", "pending"] | None = None,
    **changes: Any,
) -> DeliveryRecord:
    """The outbox row of ``record``'s action (held while it waits for review)."""
    action = action or record.action
    values: dict[str, Any] = {
        "id": new_id(),
        "decision_id": record.id,
        "app": record.app,
        "action": action,
        "connector": connector,
        "key": f"{record.id}:{action}",
        "state": state or ("held" if record.status == "pending_review" else "pending"),
        "created_at": record.created_at,
    }
    values.update(changes)
    return DeliveryRecord(**values)


def with_deliveries(records: list[Decision], **kwargs: Any) -> RecordRequest:
    """A request of ``records`` and one delivery each."""
    return RecordRequest(records, deliveries=[delivery(r) for r in records], **kwargs)
