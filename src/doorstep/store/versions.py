"""Model versions, their stages and promotions, within the caller's transaction.

A version is registered once per ``(app, version)`` with its content hash; its stage changes
(``candidate``, ``shadow``, ``canary``, ``champion``, ``retired``) are rows of
``model_stage_changes`` and ``model_version.stage_changed`` audit events, written together. The
largest id of ``model_stage_changes`` is the *stage generation*: a server that polls it knows
when any app's stages changed (:class:`doorstep.store.generation.GenerationReader`).

Changes are optimistic: the caller read the app's stages at generation ``expect`` and decided
what to change; if another change came in between, :class:`ConflictError` says so and nothing
is written.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, get_args

import sqlalchemy as sa

from doorstep.errors import ConflictError, NotFoundError, StoreError
from doorstep.ids import new_id
from doorstep.store.audit import AuditWriter
from doorstep.store.protocols import Stage, StageChange
from doorstep.store.tables import (
    model_approvals,
    model_promotions,
    model_stage_changes,
    model_versions,
)

__all__ = [
    "STAGE_GENERATION",
    "STAGE_CHANGED",
    "Stage",
    "StageChange",
    "VersionRow",
    "app_generation",
    "apply_changes",
    "approve",
    "close_promotion",
    "insert_version",
    "promotions",
    "request_promotion",
    "stage_history",
    "versions_of",
]

STAGES: tuple[str, ...] = get_args(Stage)
STAGE_CHANGED = "model_version.stage_changed"
STAGE_GENERATION = "SELECT max(id) FROM model_stage_changes"
"""The stage generation's read (servers poll it: see the module's docstring)."""


@dataclass(frozen=True)
class VersionRow:
    """A registered version as stored."""

    app: str
    version: str
    content_hash: str
    owner: str
    stage: str
    registered_at: datetime
    notes: str | None
    registered_by: str | None
    path: str | None
    reference: str | None
    canary_share: float | None

    def as_dict(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.__dataclass_fields__}


def versions_of(conn: sa.Connection, app: str | None) -> list[VersionRow]:
    """The versions of ``app`` (every app's when ``None``), oldest first per app."""
    query = sa.select(model_versions).order_by(
        model_versions.c.app, model_versions.c.registered_at, model_versions.c.version
    )
    if app is not None:
        query = query.where(model_versions.c.app == app)
    return [VersionRow(**row._mapping) for row in conn.execute(query)]


def app_generation(conn: sa.Connection, app: str) -> int:
    """The id of the app's latest stage change (0 when it has none)."""
    value = conn.execute(
        sa.select(sa.func.max(model_stage_changes.c.id)).where(model_stage_changes.c.app == app)
    ).scalar()
    return int(value or 0)


def insert_version(conn: sa.Connection, audit: AuditWriter, row: VersionRow, *, actor: str) -> bool:
    """Register ``row`` (its stage recorded as a change when it is not ``candidate``); ``False``
    when the same version with the same hash is registered already (nothing is written)."""
    existing = conn.execute(
        sa.select(model_versions.c.content_hash).where(
            model_versions.c.app == row.app, model_versions.c.version == row.version
        )
    ).first()
    if existing is not None:
        if existing.content_hash == row.content_hash:
            return False
        raise StoreError(
            f"Model version {row.version!r} of app {row.app!r} is registered with hash "
            f"{existing.content_hash[:12]}…, not {row.content_hash[:12]}…; give the "
            "changed model a new version."
        )
    conn.execute(model_versions.insert().values(**{**row.as_dict(), "stage": "candidate"}))
    payload: dict[str, Any] = {
        "app": row.app,
        "version": row.version,
        "content_hash": row.content_hash,
        "owner": row.owner,
    }
    payload |= {k: v for k in ("notes", "path", "reference") if (v := getattr(row, k)) is not None}
    audit.append(
        "model_version.registered",
        f"{row.app}/{row.version}",
        payload,
        actor=actor,
        at=row.registered_at,
    )
    return True


def apply_changes(
    conn: sa.Connection,
    audit: AuditWriter,
    app: str,
    changes: Sequence[StageChange],
    *,
    actor: str,
    reason: str,
    at: datetime,
    expect: int | None,
) -> None:
    """Move each version of ``changes`` to its stage, recorded and audited, if the app's stage
    generation is still ``expect`` (``None``: whatever it is)."""
    if expect is not None and app_generation(conn, app) != expect:
        raise ConflictError(
            f"The stages of app {app!r} changed while this change was prepared; look at "
            f"'doorstep models list {app}' and try again."
        )
    for change in changes:
        if change.stage not in STAGES:
            raise StoreError(f"Unknown stage {change.stage!r}; stages are {', '.join(STAGES)}.")
        current = conn.execute(
            sa.select(model_versions.c.stage).where(
                model_versions.c.app == app, model_versions.c.version == change.version
            )
        ).scalar_one_or_none()
        if current is None:
            raise NotFoundError(f"App {app!r} has no model version {change.version!r}.")
        share = change.share if change.stage == "canary" else None
        conn.execute(
            model_versions.update()
            .where(model_versions.c.app == app, model_versions.c.version == change.version)
            .values(stage=change.stage, canary_share=share)
        )
        conn.execute(
            model_stage_changes.insert().values(
                app=app,
                version=change.version,
                from_stage=current,
                to_stage=change.stage,
                share=share,
                actor=actor,
                reason=reason,
                at=at,
            )
        )
        payload: dict[str, Any] = {"from": current, "to": change.stage, "reason": reason}
        if share is not None:
            payload["share"] = share
        audit.append(STAGE_CHANGED, f"{app}/{change.version}", payload, actor=actor, at=at)


def stage_history(conn: sa.Connection, app: str) -> list[dict[str, Any]]:
    """Every stage change of ``app``, oldest first."""
    query = (
        sa.select(model_stage_changes)
        .where(model_stage_changes.c.app == app)
        .order_by(model_stage_changes.c.id)
    )
    return [dict(row._mapping) for row in conn.execute(query)]


def promotions(conn: sa.Connection, app: str, *, state: str | None = None) -> list[dict[str, Any]]:
    """The promotions of ``app`` (oldest first), each with its ``approvals``."""
    query = (
        sa.select(model_promotions)
        .where(model_promotions.c.app == app)
        .order_by(model_promotions.c.requested_at, model_promotions.c.id)
    )
    if state is not None:
        query = query.where(model_promotions.c.state == state)
    found = [dict(row._mapping) for row in conn.execute(query)]
    if not found:
        return []
    approvals = conn.execute(
        sa.select(model_approvals)
        .where(model_approvals.c.promotion_id.in_([p["id"] for p in found]))
        .order_by(model_approvals.c.at)
    ).all()
    for promotion in found:
        promotion["approvals"] = [
            {"approver": a.approver, "key_id": a.key_id, "reason": a.reason, "at": a.at}
            for a in approvals
            if a.promotion_id == promotion["id"]
        ]
    return found


def request_promotion(
    conn: sa.Connection,
    audit: AuditWriter,
    app: str,
    version: str,
    *,
    required: int,
    actor: str,
    key_id: str | None,
    reason: str,
    at: datetime,
) -> str:
    """Open a promotion of ``version`` to champion; one may be pending per app at a time."""
    pending = promotions(conn, app, state="pending")
    if pending:
        raise ConflictError(
            f"App {app!r} has a pending promotion of version {pending[0]['version']!r} "
            f"(requested by {pending[0]['requested_by']}); approve or withdraw it first."
        )
    promotion = new_id()
    conn.execute(
        model_promotions.insert().values(
            id=promotion,
            app=app,
            version=version,
            state="pending",
            approvals_required=required,
            requested_by=actor,
            requester_key=key_id,
            reason=reason,
            requested_at=at,
        )
    )
    payload = {"promotion": promotion, "version": version, "approvals": required, "reason": reason}
    audit.append("model_promotion.requested", f"{app}/{version}", payload, actor=actor, at=at)
    return promotion


def approve(
    conn: sa.Connection,
    audit: AuditWriter,
    promotion: dict[str, Any],
    *,
    actor: str,
    key_id: str | None,
    reason: str,
    at: datetime,
) -> None:
    """Add one approval to a pending promotion (once per approver)."""
    state = conn.execute(
        sa.select(model_promotions.c.state).where(model_promotions.c.id == promotion["id"])
    ).scalar_one_or_none()
    if state != "pending":
        raise ConflictError(f"The promotion {promotion['id']} is {state or 'gone'}, not pending.")
    done = conn.execute(
        sa.select(model_approvals.c.approver).where(
            model_approvals.c.promotion_id == promotion["id"], model_approvals.c.approver == actor
        )
    ).first()
    if done is not None:
        raise ConflictError(f"{actor} has approved this promotion already.")
    conn.execute(
        model_approvals.insert().values(
            promotion_id=promotion["id"], approver=actor, key_id=key_id, reason=reason, at=at
        )
    )
    subject = f"{promotion['app']}/{promotion['version']}"
    payload = {"promotion": promotion["id"], "reason": reason}
    audit.append("model_promotion.approved", subject, payload, actor=actor, at=at)


def close_promotion(
    conn: sa.Connection,
    audit: AuditWriter,
    promotion: dict[str, Any],
    state: Literal["approved", "withdrawn"],
    *,
    actor: str,
    reason: str,
    at: datetime,
) -> None:
    """End a pending promotion: ``approved`` (all its approvals are in) or ``withdrawn``."""
    closed = conn.execute(
        model_promotions.update()
        .where(model_promotions.c.id == promotion["id"], model_promotions.c.state == "pending")
        .values(state=state, closed_by=actor, closed_at=at)
    ).rowcount
    if not closed:
        raise ConflictError(f"The promotion {promotion['id']} is no longer pending.")
    if state == "withdrawn":
        subject = f"{promotion['app']}/{promotion['version']}"
        payload = {"promotion": promotion["id"], "reason": reason}
        audit.append("model_promotion.withdrawn", subject, payload, actor=actor, at=at)
