"""Promotion to champion with four eyes: one key requests it, with a reason; other keys approve
(``governance.approvals`` of them, each of role owner or admin, and among ``governance.
approvers`` when the spec names them); the last approval switches the champion in the same
transaction. A pending request can be withdrawn. Every step is an audit event."""

from __future__ import annotations

from typing import Any

from doorstep.core.spec.models import Spec
from doorstep.errors import ConflictError, InputError, NotFoundError, PermissionDeniedError
from doorstep.services.rollout.stages import Caller, champion_of, version_of
from doorstep.store.protocols import ModelVersionStore, StageChange

__all__ = ["approve_promotion", "pending_promotion", "request_promotion", "withdraw_promotion"]


def request_promotion(
    store: ModelVersionStore, spec: Spec, version: str, *, caller: Caller, reason: str
) -> dict[str, Any]:
    """Ask for ``version`` to become the champion; it waits for its approvals."""
    key = caller.require_operator("request a promotion")
    app = spec.app.name
    rows, _ = store.model_stages(app)
    row = version_of(rows, app, version)
    if row["stage"] == "champion":
        raise ConflictError(f"Version {version!r} is the champion of app {app!r} already.")
    store.request_model_promotion(
        app,
        version,
        required=spec.governance.approvals,
        actor=caller.actor,
        key_id=key.id,
        reason=_required(reason, "request a promotion"),
    )
    promotion = pending_promotion(store, app)
    assert promotion is not None
    return promotion


def pending_promotion(store: ModelVersionStore, app: str) -> dict[str, Any] | None:
    pending = store.model_promotions(app, state="pending")
    return pending[0] if pending else None


def approve_promotion(
    store: ModelVersionStore, spec: Spec, version: str, *, caller: Caller, reason: str
) -> dict[str, Any]:
    """Approve the pending promotion of ``version``; the last approval needed makes it the
    champion (the former champion is retired). Returns the promotion as it is now."""
    key = caller.require_operator("approve a promotion")
    app = spec.app.name
    promotion = _pending(store, app, version)
    if key.id == promotion["requester_key"] or caller.actor == promotion["requested_by"]:
        raise PermissionDeniedError(
            f"{caller.actor} requested this promotion and may not approve it too: four eyes "
            "means another key, of another person, approves."
        )
    allowed = _approvers(spec)
    if allowed and key.name not in allowed:
        raise PermissionDeniedError(
            f"Key {key.name!r} may not approve promotions of app {app!r}; governance names the "
            f"approvers {', '.join(sorted(allowed))}."
        )
    changes: list[StageChange] = []
    generation = None
    if len(promotion["approvals"]) + 1 >= promotion["approvals_required"]:
        rows, generation = store.model_stages(app)
        version_of(rows, app, version)
        current = champion_of(rows)
        if current is not None:
            changes.append(StageChange(current["version"], "retired"))
        changes.append(StageChange(version, "champion"))
    store.approve_model_promotion(
        promotion,
        actor=caller.actor,
        key_id=key.id,
        reason=_required(reason, "approve a promotion"),
        changes=changes,
        expect=generation,
    )
    return next(p for p in store.model_promotions(app) if p["id"] == promotion["id"])


def withdraw_promotion(
    store: ModelVersionStore, app: str, version: str, *, caller: Caller, reason: str
) -> dict[str, Any]:
    """Withdraw the pending promotion of ``version`` (by its requester or any owner/admin)."""
    caller.require_operator("withdraw a promotion")
    promotion = _pending(store, app, version)
    store.withdraw_model_promotion(
        promotion, actor=caller.actor, reason=_required(reason, "withdraw a promotion")
    )
    return next(p for p in store.model_promotions(app) if p["id"] == promotion["id"])


def _pending(store: ModelVersionStore, app: str, version: str) -> dict[str, Any]:
    promotion = pending_promotion(store, app)
    if promotion is None or promotion["version"] != version:
        waiting = "none" if promotion is None else f"version {promotion['version']!r}"
        raise NotFoundError(
            f"No promotion of version {version!r} of app {app!r} is pending (pending: "
            f"{waiting}); request one with 'doorstep models promote {app} --version {version}'."
        )
    return promotion


def _approvers(spec: Spec) -> set[str]:
    """Key names that may approve, or the empty set when any owner/admin key may."""
    governance = spec.governance
    if not governance.approvers:
        return set()
    return {*governance.approvers, *governance.owners, spec.app.owner}


def _required(reason: str, what: str) -> str:
    if not reason.strip():
        raise InputError(f'To {what}, give a reason (--reason, or "reason" in the body).')
    return reason.strip()
