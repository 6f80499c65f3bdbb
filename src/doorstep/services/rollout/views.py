"""An app's versions, stages, promotions and stage history as plain data (for the API, the
command line and the pages), with the governance rules that apply and whether the champion is
overdue for revalidation."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from doorstep.core.spec.models import Spec
from doorstep.services.rollout.revalidation import revalidation_due
from doorstep.store.protocols import ModelVersionStore

__all__ = ["model_stages", "models_view", "plain"]


def model_stages(store: ModelVersionStore, app: str) -> tuple[list[dict[str, Any]], int]:
    """The app's versions with their stages, and the id of its latest stage change (what a
    page shows, and what a form from that page expects to be unchanged)."""
    return store.model_stages(app)


def plain(row: dict[str, Any]) -> dict[str, Any]:
    """``row`` with its times as ISO 8601 text (and nested lists of rows alike)."""
    out: dict[str, Any] = {}
    for key, value in row.items():
        if isinstance(value, datetime):
            value = value.isoformat()
        elif isinstance(value, list):
            value = [plain(v) if isinstance(v, dict) else v for v in value]
        out[key] = value
    return out


def models_view(
    store: ModelVersionStore, spec: Spec, *, serving: str | None = None, now: datetime | None = None
) -> dict[str, Any]:
    """Versions (oldest first), the pending promotion, the stage history and the governance of
    the app of ``spec``; ``serving``: the champion version this process serves."""
    app = spec.app.name
    rows = store.model_versions(app)
    history = store.model_stage_history(app)
    pending = store.model_promotions(app, state="pending")
    governance = spec.governance
    revalidation: dict[str, Any] | None = None
    due = revalidation_due(spec, rows, history)
    if due is not None:
        revalidation = {
            "every": due.every,
            "since": due.since.isoformat(),
            "due": due.due.isoformat(),
            "overdue": due.overdue(now or datetime.now(UTC)),
        }
    return {
        "app": app,
        "owner": spec.app.owner,
        "serving": serving,
        "versions": [plain(r) for r in rows],
        "pending_promotion": plain(pending[0]) if pending else None,
        "history": [plain(c) for c in history],
        "governance": {
            "owners": [spec.app.owner, *governance.owners],
            "approvers": governance.approvers,
            "approvals": governance.approvals,
            "revalidation": revalidation,
        },
    }
