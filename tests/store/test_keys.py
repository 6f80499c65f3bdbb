"""API keys: format, hashing, authentication, revocation, the first admin key."""

from __future__ import annotations

import pytest

from doorstep.errors import NotFoundError, StoreError
from doorstep.services.governance.keys import create_key, ensure_admin_key, list_keys, revoke_key
from doorstep.store import Store
from doorstep.store.keys import hash_secret


def test_create_authenticate_revoke(store: Store) -> None:
    key, secret = create_key(store, "crm", "client", actor="admin")
    assert secret.startswith("dsk_") and len(secret) == 47
    assert key.prefix == secret[:12] and key.role == "client" and key.created_by == "admin"
    assert store.authenticate(secret) == key
    assert store.authenticate(secret + "x") is None
    assert store.authenticate("Bearer " + secret) is None
    assert store.authenticate("") is None
    revoked = revoke_key(store, key.id, actor="admin")
    assert revoked.revoked_at is not None
    assert store.authenticate(secret) is None
    assert revoke_key(store, key.id, actor="admin").revoked_at == revoked.revoked_at
    assert list_keys(store) == [revoked]
    assert list_keys(store, include_revoked=False) == []
    with pytest.raises(NotFoundError):
        revoke_key(store, "missing", actor="admin")
    events = store.verify_audit()
    assert events.ok and events.events == 2


def test_only_the_hash_is_stored(store: Store) -> None:
    _key, secret = create_key(store, "crm", "client", actor="admin")
    with store.engine.connect() as conn:
        stored = conn.exec_driver_sql("SELECT key_hash FROM api_keys").scalar()
    assert stored == hash_secret(secret) and secret not in str(stored)


def test_unknown_role(store: Store) -> None:
    with pytest.raises(StoreError, match="must be one of admin, owner"):
        create_key(store, "x", "root", actor="admin")
    with pytest.raises(StoreError, match=r"got 'admn' instead \(did you mean 'admin'\?\)"):
        create_key(store, "x", "admn", actor="admin")


def test_ensure_admin_key_only_when_there_are_none(store: Store) -> None:
    secret = ensure_admin_key(store)
    assert secret is not None
    key = store.authenticate(secret)
    assert key is not None and key.role == "admin"
    assert ensure_admin_key(store) is None
    revoke_key(store, key.id, actor="admin")
    assert ensure_admin_key(store) is None  # revoked keys still count: no silent new admin
    assert store.count_keys() == 1
