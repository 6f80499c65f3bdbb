"""API keys: format, hashing, authentication, revocation, role changes, the first admin key, and
the pages' sessions they start."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import pytest

from doorstep.errors import ConflictError, NotFoundError, StoreError
from doorstep.services.governance.keys import (
    change_key_role,
    create_key,
    ensure_admin_key,
    list_keys,
    revoke_key,
)
from doorstep.services.governance.sessions import end_session, session_key, start_session
from doorstep.store import Store, open_store
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


def test_sessions_end_by_sign_out_revocation_role_change_and_expiry(store: Store) -> None:
    now = datetime.now(UTC)
    later = now + timedelta(hours=12)
    key, _ = create_key(store, "ana", "reviewer", actor="admin")
    signed_out = start_session(store, key.id, now=now, seconds=3600)
    other_tab = start_session(store, key.id, now=now, seconds=3600)
    assert signed_out is not None and other_tab is not None and signed_out != other_tab
    assert session_key(store, signed_out, now=now) == key
    assert end_session(store, signed_out) and not end_session(store, signed_out)
    assert session_key(store, signed_out, now=now) is None
    assert session_key(store, other_tab, now=now) == key  # one sign-out ends one session
    assert session_key(store, other_tab, now=later) is None  # expired
    assert session_key(store, "made-up", now=now) is None
    with store.engine.connect() as conn:  # the store keeps the token's hash only
        stored = set(conn.exec_driver_sql("SELECT id FROM page_sessions").scalars())
    assert other_tab not in stored and hash_secret(other_tab) in stored

    changed = change_key_role(store, key.id, "viewer", actor="admin")
    assert changed.role == "viewer" and session_key(store, other_tab, now=now) is None
    assert change_key_role(store, key.id, "viewer", actor="admin") == changed  # no change
    fresh = start_session(store, key.id, now=now, seconds=3600)
    assert fresh is not None and session_key(store, fresh, now=now) == changed

    revoke_key(store, key.id, actor="admin")
    assert session_key(store, fresh, now=now) is None
    assert start_session(store, key.id, now=now, seconds=3600) is None
    assert start_session(store, "missing", now=now, seconds=3600) is None
    with pytest.raises(ConflictError, match="revoked"):
        change_key_role(store, key.id, "admin", actor="admin")
    with pytest.raises(NotFoundError):
        change_key_role(store, "missing", "viewer", actor="admin")
    with pytest.raises(StoreError, match="must be one of"):
        change_key_role(store, key.id, "root", actor="admin")
    with store.engine.connect() as conn:
        left = conn.exec_driver_sql("SELECT count(*) FROM page_sessions").scalar()
    assert left == 0  # revoking deleted the key's sessions; expired ones go at the next sign-in
    report = store.verify_audit()
    assert report.ok and report.events == 3  # created, role changed, revoked


def test_a_session_sees_a_role_changed_behind_its_back(store: Store) -> None:
    """A role changed by other means than ``change_key_role`` (an operator's SQL) still ends the
    sessions started with the old role."""
    now = datetime.now(UTC)
    key, _ = create_key(store, "ana", "reviewer", actor="admin")
    token = start_session(store, key.id, now=now, seconds=3600)
    assert token is not None
    with store.engine.begin() as conn:
        conn.exec_driver_sql("UPDATE api_keys SET role = 'admin'")
    assert session_key(store, token, now=now) is None


def test_the_key_generation_counts_revocations_and_role_changes_and_is_cheap(
    store: Store,
) -> None:
    """Servers read it on every API request to know whether the keys they verified changed:
    every revocation and role change bumps it in its own transaction, as seen from another
    store on the same database (another process), and a read takes no pooled transaction."""
    other = open_store(store.url)
    try:
        start = other.key_generation()
        key, _ = create_key(store, "crm", "client", actor="admin")
        assert other.key_generation() == start  # a new key changes nothing verified
        change_key_role(store, key.id, "viewer", actor="admin")
        assert other.key_generation() == start + 1
        change_key_role(store, key.id, "viewer", actor="admin")  # the same role: no change
        revoke_key(store, key.id, actor="admin")
        revoke_key(store, key.id, actor="admin")  # already revoked: no change
        assert other.key_generation() == start + 2
        with ThreadPoolExecutor(4) as pool:  # from any thread, one at a time
            assert set(pool.map(lambda _: other.key_generation(), range(8))) == {start + 2}
        reads = 2_000
        started = time.perf_counter()
        for _ in range(reads):
            other.key_generation()
        per_read = (time.perf_counter() - started) / reads
        assert per_read < (0.0005 if store.dialect == "sqlite" else 0.002), per_read
    finally:
        other.close()
