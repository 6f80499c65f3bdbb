"""The pages' sessions: started at sign-in, checked on every page request, ended by signing
out, by revoking the key or by changing its role (see ``doorstep.store.sessions``)."""

from __future__ import annotations

from datetime import datetime, timedelta

from doorstep.store.protocols import ApiKey, KeyStore

__all__ = ["end_session", "session_key", "start_session"]


def start_session(store: KeyStore, key_id: str, *, now: datetime, seconds: float) -> str | None:
    """A new session of ``key_id`` lasting ``seconds``; its token, or ``None`` when the key is
    unknown or revoked."""
    return store.start_session(key_id, expires_at=now + timedelta(seconds=seconds))


def session_key(store: KeyStore, token: str, *, now: datetime) -> ApiKey | None:
    """The key a live session acts as, read fresh from the store (no cache: an ended session
    ends at once on every server process)."""
    return store.session_key(token, now=now)


def end_session(store: KeyStore, token: str) -> bool:
    return store.end_session(token)
