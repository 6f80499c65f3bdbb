"""API keys: the use cases the command line and the web layer share."""

from __future__ import annotations

from doorstep.store.keys import check_role
from doorstep.store.protocols import ApiKey, KeyStore

__all__ = [
    "change_key_role",
    "create_key",
    "ensure_admin_key",
    "get_key",
    "list_keys",
    "name_taken",
    "revoke_key",
]

FIRST_ADMIN_NAME = "first-admin"


def create_key(store: KeyStore, name: str, role: str, *, actor: str) -> tuple[ApiKey, str]:
    """A new key of ``role``; returns it and its secret (shown once, never stored)."""
    return store.create_key(name, check_role(role), actor=actor)


def name_taken(store: KeyStore, name: str) -> ApiKey | None:
    """The active key already named ``name`` (case and surrounding spaces aside), if any: the
    audit trail names keys (``key:<name>``), so two live keys should not share a name."""
    wanted = name.strip().casefold()
    return next(
        (k for k in store.list_keys() if k.revoked_at is None and k.name.casefold() == wanted),
        None,
    )


def list_keys(store: KeyStore, *, include_revoked: bool = True) -> list[ApiKey]:
    keys = store.list_keys()
    return keys if include_revoked else [k for k in keys if k.revoked_at is None]


def get_key(store: KeyStore, key_id: str) -> ApiKey | None:
    """The key with this id, revoked or not; ``None`` when there is none."""
    return store.get_key(key_id)


def revoke_key(store: KeyStore, key_id: str, *, actor: str) -> ApiKey:
    """Revoke a key by id; it stops authenticating at once and its page sessions end. Raises
    ``NotFoundError``."""
    return store.revoke_key(key_id, actor=actor)


def change_key_role(store: KeyStore, key_id: str, role: str, *, actor: str) -> ApiKey:
    """Give a key another role; its page sessions end (people sign in again with the new role).
    Raises ``NotFoundError``, ``ConflictError`` (revoked) or ``StoreError`` (unknown role)."""
    return store.change_key_role(key_id, check_role(role), actor=actor)


def ensure_admin_key(store: KeyStore, *, actor: str = "doorstep") -> str | None:
    """On first start (no keys at all, not even revoked ones) create an admin key and return its
    secret to print once; otherwise ``None``. The server never serves unauthenticated."""
    if store.count_keys() > 0:
        return None
    _key, secret = store.create_key(FIRST_ADMIN_NAME, "admin", actor=actor)
    return secret
