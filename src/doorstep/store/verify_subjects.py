"""Rows the audit chain vouches for by name: API keys and model versions.

Decision, review and outcome rows carry the ``audit_seq`` of their event; API keys and model
versions do not, but each is the *subject* of its events (``key.created``, ``key.role_changed``
and ``key.revoked`` name the key's id, ``model_version.registered`` names ``app/version``), and
those events hold the row's fields. So, for :func:`doorstep.store.verify.verify_chain`:

- each such event of a page is compared with the row it names: a row gone is ``deleted``, a
  field that differs ``edited`` (a key's name, prefix, creation time and creator, and, for keys
  created since the event carries it, a digest of the stored secret hash; a revoked key must
  still be revoked at the time its ``key.revoked`` event says; a model version's content hash,
  owner and registration time);
- once the chain is walked, a row that no event names is ``inserted`` (a key forged with raw
  SQL would otherwise authenticate), a key revoked without its event ``edited``, and so is a
  key whose role is not the one its latest ``key.created`` or ``key.role_changed`` event
  gave it (a role can change, so it is compared with the last word on it).

A model version's ``stage`` (and a canary's share) is compared with the last word on it, once
the chain is walked: its latest ``model_version.stage_changed`` event. A version with no such
event (registered before stages were audited) is not compared.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from doorstep.store.tables import api_keys, audit_events, model_versions

__all__ = [
    "KEY_CREATED",
    "KEY_REVOKED",
    "KEY_ROLE_CHANGED",
    "STAGE_CHANGED",
    "VERSION_REGISTERED",
    "Problem",
    "check_subjects",
    "key_hash_digest",
    "unvouched_rows",
]

KEY_CREATED = "key.created"
KEY_ROLE_CHANGED = "key.role_changed"
KEY_REVOKED = "key.revoked"
VERSION_REGISTERED = "model_version.registered"
STAGE_CHANGED = "model_version.stage_changed"


@dataclass(frozen=True)
class Problem:
    """The first thing wrong, at an event (``seq``) or in a row no event accounts for."""

    seq: int | None
    problem: str
    details: dict[str, Any]


def key_hash_digest(key_hash: str) -> str:
    """What a ``key.created`` event holds of the stored secret hash: its SHA-256, so that
    swapping a key's hash for that of another secret is found."""
    return hashlib.sha256(f"doorstep key hash\n{key_hash}".encode()).hexdigest()


def check_subjects(conn: sa.Connection, page: Sequence[Any]) -> list[Problem]:
    """Compare the key and model version events of ``page`` with the rows they name."""
    problems: list[Problem] = []
    key_events = [e for e in page if e.kind in (KEY_CREATED, KEY_ROLE_CHANGED, KEY_REVOKED)]
    if key_events:
        wanted = {e.subject for e in key_events}
        rows = {r.id: r for r in conn.execute(sa.select(api_keys).where(api_keys.c.id.in_(wanted)))}
        for event in key_events:
            problem = _key_problem(event, rows.get(event.subject))
            if problem is not None:
                problems.append(problem)
    version_events = [e for e in page if e.kind == VERSION_REGISTERED]
    if version_events:
        apps = {str(e.payload.get("app")) for e in version_events}
        found = conn.execute(sa.select(model_versions).where(model_versions.c.app.in_(apps)))
        versions = {f"{r.app}/{r.version}": r for r in found}
        for event in version_events:
            problem = _version_problem(event, versions.get(event.subject))
            if problem is not None:
                problems.append(problem)
    return problems


def unvouched_rows(conn: sa.Connection, head: int) -> Problem | None:
    """A key or model version that no event (up to ``head``) names, or a key revoked without
    its event."""
    events = audit_events.alias("e")

    def named(subject: sa.ColumnElement[str], kind: str) -> sa.Exists:
        return sa.exists().where(
            events.c.subject == subject, events.c.kind == kind, events.c.seq <= head
        )

    forged = conn.execute(
        sa.select(api_keys.c.id)
        .where(~named(api_keys.c.id, KEY_CREATED))
        .order_by(api_keys.c.created_at, api_keys.c.id)
        .limit(1)
    ).first()
    if forged is not None:
        return Problem(None, "inserted", {"table": "api_keys", "id": forged.id})
    revoked = conn.execute(
        sa.select(api_keys.c.id)
        .where(api_keys.c.revoked_at.is_not(None), ~named(api_keys.c.id, KEY_REVOKED))
        .order_by(api_keys.c.created_at, api_keys.c.id)
        .limit(1)
    ).first()
    if revoked is not None:
        note = "revoked without a key.revoked event"
        return Problem(None, "edited", {"table": "api_keys", "id": revoked.id, "note": note})
    role = _role_problem(conn, head)
    if role is not None:
        return role
    stage = _stage_problem(conn, head)
    if stage is not None:
        return stage
    subject = model_versions.c.app + "/" + model_versions.c.version
    version = conn.execute(
        sa.select(model_versions.c.app, model_versions.c.version)
        .where(~named(subject, VERSION_REGISTERED))
        .order_by(model_versions.c.registered_at, model_versions.c.app, model_versions.c.version)
        .limit(1)
    ).first()
    if version is not None:
        return Problem(
            None, "inserted", {"table": "model_versions", "id": f"{version.app}/{version.version}"}
        )
    return None


def _role_problem(conn: sa.Connection, head: int) -> Problem | None:
    """A key whose role is not the one its latest role-giving event gave it."""
    events = audit_events.alias("e")
    latest = (
        sa.select(sa.func.max(events.c.seq))
        .where(
            events.c.subject == api_keys.c.id,
            events.c.kind.in_((KEY_CREATED, KEY_ROLE_CHANGED)),
            events.c.seq <= head,
        )
        .scalar_subquery()
    )
    rows = conn.execute(
        sa.select(api_keys.c.id, api_keys.c.role, audit_events.c.seq, audit_events.c.payload)
        .select_from(api_keys)
        .join(audit_events, audit_events.c.seq == latest)
        .order_by(audit_events.c.seq)
    ).all()  # one row per key: few
    for row in rows:
        if "role" in row.payload and row.payload["role"] != row.role:
            return Problem(
                row.seq, "edited", {"table": "api_keys", "id": row.id, "fields": ["role"]}
            )
    return None


def _stage_problem(conn: sa.Connection, head: int) -> Problem | None:
    """A model version whose stage (or canary share) is not the one its latest stage event
    gave it."""
    events = audit_events.alias("e")
    subject = model_versions.c.app + "/" + model_versions.c.version
    latest = (
        sa.select(sa.func.max(events.c.seq))
        .where(events.c.subject == subject, events.c.kind == STAGE_CHANGED, events.c.seq <= head)
        .scalar_subquery()
    )
    rows = conn.execute(
        sa.select(
            model_versions.c.app,
            model_versions.c.version,
            model_versions.c.stage,
            model_versions.c.canary_share,
            audit_events.c.seq,
            audit_events.c.payload,
        )
        .select_from(model_versions)
        .join(audit_events, audit_events.c.seq == latest)
        .order_by(audit_events.c.seq)
    ).all()  # one row per version: few
    for row in rows:
        differ = [] if row.payload.get("to") == row.stage else ["stage"]
        if row.payload.get("share") != row.canary_share:
            differ.append("canary_share")
        if differ:
            where = {"table": "model_versions", "id": f"{row.app}/{row.version}"}
            return Problem(row.seq, "edited", {**where, "fields": differ})
    return None


def _key_problem(event: Any, row: Any) -> Problem | None:
    where = {"table": "api_keys", "id": event.subject}
    if row is None:
        return Problem(event.seq, "deleted", where)
    payload = event.payload
    if event.kind == KEY_REVOKED:
        if row.revoked_at is None:
            return Problem(event.seq, "edited", {**where, "note": "no longer revoked"})
        if row.revoked_at != event.at:
            return Problem(event.seq, "edited", {**where, "fields": ["revoked_at"]})
        return None
    if event.kind == KEY_ROLE_CHANGED:  # the role is compared once the chain is walked
        return None
    differ = [f for f in ("name", "prefix") if f in payload and payload[f] != row._mapping[f]]
    if row.created_at != event.at:
        differ.append("created_at")
    if row.created_by != event.actor:
        differ.append("created_by")
    digest = payload.get("key_hash_digest")
    if digest is not None and digest != key_hash_digest(row.key_hash):
        differ.append("key_hash")
    return Problem(event.seq, "edited", {**where, "fields": differ}) if differ else None


def _version_problem(event: Any, row: Any) -> Problem | None:
    where = {"table": "model_versions", "id": event.subject}
    if row is None:
        return Problem(event.seq, "deleted", where)
    payload = event.payload
    differ = [
        f for f in ("content_hash", "owner") if f in payload and payload[f] != row._mapping[f]
    ]
    if row.registered_at != event.at:
        differ.append("registered_at")
    return Problem(event.seq, "edited", {**where, "fields": differ}) if differ else None
