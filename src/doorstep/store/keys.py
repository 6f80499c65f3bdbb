"""API key secrets: format, hashing and lookup.

A secret is ``dsk_`` followed by 32 random bytes in URL-safe base64 (43 characters): the prefix
makes leaked keys easy to recognise (and to scan for). Only ``sha256(secret)`` is stored. A fast
hash is right here: the secret carries 256 bits of entropy, so there is nothing to brute-force,
and authentication stays a single indexed lookup. The first 12 characters are kept as ``prefix``
to tell keys apart in lists.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from typing import Any, get_args

from doorstep.core.suggest import did_you_mean
from doorstep.errors import StoreError
from doorstep.store.protocols import ApiKey, Role

__all__ = [
    "KEY_PREFIX",
    "PREFIX_LENGTH",
    "ROLES",
    "check_role",
    "generate_secret",
    "hash_secret",
    "key_from_row",
    "matches",
]

KEY_PREFIX = "dsk_"
PREFIX_LENGTH = 12
ROLES: tuple[str, ...] = get_args(Role)


def generate_secret() -> str:
    return KEY_PREFIX + secrets.token_urlsafe(32)


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def matches(stored_hash: str, secret: str) -> bool:
    return hmac.compare_digest(stored_hash.encode(), hash_secret(secret).encode())


def check_role(role: str) -> Role:
    if role not in ROLES:
        raise StoreError(
            f"The role of an API key must be one of {', '.join(ROLES)}; got {role!r} "
            f"instead{did_you_mean(role, ROLES)}."
        )
    return role  # type: ignore[return-value]


def key_from_row(row: Any) -> ApiKey:
    return ApiKey(
        id=row.id,
        name=row.name,
        role=row.role,
        prefix=row.prefix,
        created_at=row.created_at,
        created_by=row.created_by,
        revoked_at=row.revoked_at,
        last_used_at=row.last_used_at,
    )
