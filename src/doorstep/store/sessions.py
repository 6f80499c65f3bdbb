"""The pages' sessions, held in the store so that the server can end them: a row per sign-in,
named by the SHA-256 of the session's random token (the signed cookie carries the token, the
store only its hash), with the key and the role it was started with.

A session is live while its row exists, has not expired, its key is not revoked and the key's
role is still the one it started with: signing out deletes the row, revoking a key or changing
its role deletes the key's rows (and the role check would refuse them anyway). Every page
request asks :func:`live_key`: one indexed read, no cache, so an ended session ends at once on
every worker process and machine sharing the store. Sessions are operational state, like
review claims: not audited (the key's creation, revocation and role changes are)."""

from __future__ import annotations

import secrets
from datetime import datetime

import sqlalchemy as sa

from doorstep.store.keys import hash_secret, key_from_row
from doorstep.store.protocols import ApiKey
from doorstep.store.tables import api_keys, page_sessions

__all__ = ["end", "end_for_key", "live_key", "start"]


def start(conn: sa.Connection, key_id: str, now: datetime, expires_at: datetime) -> str | None:
    """A new session of ``key_id`` and its token; ``None`` when the key is unknown or revoked.
    Expired sessions of every key are deleted on the way (the table holds live ones only)."""
    key = conn.execute(
        sa.select(api_keys.c.role).where(api_keys.c.id == key_id, api_keys.c.revoked_at.is_(None))
    ).first()
    if key is None:
        return None
    conn.execute(page_sessions.delete().where(page_sessions.c.expires_at <= now))
    token = secrets.token_urlsafe(32)
    conn.execute(
        page_sessions.insert().values(
            id=hash_secret(token),
            key_id=key_id,
            role=key.role,
            created_at=now,
            expires_at=expires_at,
        )
    )
    return token


def live_key(conn: sa.Connection, token: str, now: datetime) -> ApiKey | None:
    """The key of the live session ``token`` names, or ``None`` (no such session, signed out,
    expired, key revoked, or the key's role changed since the session started)."""
    row = conn.execute(
        sa.select(api_keys)
        .join(page_sessions, page_sessions.c.key_id == api_keys.c.id)
        .where(
            page_sessions.c.id == hash_secret(token),
            page_sessions.c.expires_at > now,
            page_sessions.c.role == api_keys.c.role,
            api_keys.c.revoked_at.is_(None),
        )
    ).first()
    return key_from_row(row) if row is not None else None


def end(conn: sa.Connection, token: str) -> bool:
    """End one session; ``False`` when it had already ended."""
    result = conn.execute(page_sessions.delete().where(page_sessions.c.id == hash_secret(token)))
    return result.rowcount > 0


def end_for_key(conn: sa.Connection, key_id: str) -> int:
    """End every session of a key (it was revoked, or its role changed); returns how many."""
    return conn.execute(page_sessions.delete().where(page_sessions.c.key_id == key_id)).rowcount
