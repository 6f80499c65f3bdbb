"""Decisions and requests for store tests."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from doorstep.ids import new_id
from doorstep.store import DecisionRecord, RecordRequest


def decision(
    i: int = 0, *, app: str = "churn", status: str = "decided", **changes: Any
) -> DecisionRecord:
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
    return DecisionRecord(**values)


def request(n: int = 1, **kwargs: Any) -> RecordRequest:
    status = kwargs.pop("status", "decided")
    return RecordRequest(decisions=[decision(i, status=status) for i in range(n)], **kwargs)
