"""Response models of ``/v1/apps/{app}/models`` (see docs/rollout.md)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel

from doorstep.web.schemas import ModelVersionOut

__all__ = ["ModelsOut", "PromotionOut"]


class ApprovalOut(BaseModel):
    approver: str
    key_id: str | None
    reason: str
    at: str


class PromotionOut(BaseModel):
    id: str
    app: str
    version: str
    state: Literal["pending", "approved", "withdrawn"]
    approvals_required: int
    requested_by: str
    requester_key: str | None
    reason: str
    requested_at: str
    closed_by: str | None
    closed_at: str | None
    approvals: list[ApprovalOut]


class StageChangeOut(BaseModel):
    id: int
    app: str
    version: str
    from_stage: str | None
    to_stage: str
    share: float | None
    actor: str
    reason: str
    at: str


class RevalidationOut(BaseModel):
    every: str | None
    since: str
    due: str
    overdue: bool


class GovernanceOut(BaseModel):
    owners: list[str]
    approvers: list[str]
    """Key names that may approve; empty: any key of role owner or admin."""
    approvals: int
    revalidation: RevalidationOut | None


class ModelsOut(BaseModel):
    app: str
    owner: str
    serving: str | None
    """The champion this server serves now."""
    versions: list[ModelVersionOut]
    pending_promotion: PromotionOut | None
    history: list[StageChangeOut]
    """Every change of stage, oldest first."""
    governance: GovernanceOut
