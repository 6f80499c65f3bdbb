"""Identifiers: UUIDv7 (RFC 9562), sortable by creation time.

Layout (128 bits): 48-bit Unix time in milliseconds, 4-bit version (7), 12 bits ``rand_a``,
2-bit variant (``10``), 62 bits ``rand_b``. Within one process the ids are strictly increasing:
when the clock has not moved (or went backwards), the 74 random bits are incremented instead
(RFC 9562 section 6.2, method 2), so ids made in a loop sort in the order they were made.

:func:`derived_id` makes the same layout from a given time and a name instead: the same name
always gives the same id (a run's decisions, so that deciding an entity again in the same run
gives the id it had, and the store keeps one). :func:`sequenced_id` does the same for the
numbered items of one name (a file's rows): the ids sort by number, so a run's decisions are
appended to the store's index of ids in order rather than scattered through it.
"""

from __future__ import annotations

import hashlib
import secrets
import threading
import time
import uuid
from collections.abc import Callable

__all__ = ["derived_id", "new_id", "sequenced_id", "sequenced_ids", "uuid7_time_ms"]

_RAND_BITS = 74
_RAND_MASK = (1 << _RAND_BITS) - 1
_lock = threading.Lock()
_last_ms = -1
_last_rand = 0


def new_id() -> str:
    """A new UUIDv7 as its canonical 36-character lowercase string."""
    global _last_ms, _last_rand
    with _lock:
        now = time.time_ns() // 1_000_000
        if now > _last_ms:
            ms = now
            # leave the top bit clear so increments within one millisecond rarely overflow
            rand = secrets.randbits(_RAND_BITS - 1)
        else:
            ms = _last_ms
            rand = _last_rand + 1
            if rand > _RAND_MASK:
                ms += 1
                rand = secrets.randbits(_RAND_BITS - 1)
        _last_ms, _last_rand = ms, rand
    return _format(ms, rand)


def derived_id(ms: int, name: str) -> str:
    """A UUIDv7 whose time is ``ms`` (milliseconds since 1970) and whose 74 other bits are the
    first of ``name``'s SHA-256: the same ``ms`` and ``name`` always give the same id."""
    digest = int.from_bytes(hashlib.sha256(name.encode()).digest()[:10], "big")
    return _format(ms, digest & _RAND_MASK)


_SEQ_BITS = 34
_HASH_BITS = _RAND_BITS - _SEQ_BITS


def sequenced_id(ms: int, name: str, number: int) -> str:
    """A UUIDv7 whose time is ``ms``, whose next 34 bits are ``number`` (below 2**34) and whose
    last 40 the first of ``name``'s SHA-256: the same ``ms``, ``name`` and ``number`` always give
    the same id, and the ids of one name sort by ``number``."""
    return sequenced_ids(ms, name)(number)


def sequenced_ids(ms: int, name: str) -> Callable[[int], str]:
    """:func:`sequenced_id` of ``ms`` and ``name`` for any ``number``, ``name`` hashed once."""
    digest = int.from_bytes(hashlib.sha256(name.encode()).digest()[:5], "big")

    def made(number: int) -> str:
        if not 0 <= number < 1 << _SEQ_BITS:
            raise ValueError(f"number must be within 0 and 2**{_SEQ_BITS} - 1, got {number}")
        return _format(ms, number << _HASH_BITS | digest)

    return made


def _format(ms: int, rand: int) -> str:
    rand_a = rand >> 62
    rand_b = rand & ((1 << 62) - 1)
    value = (ms & 0xFFFF_FFFF_FFFF) << 80 | 0x7 << 76 | rand_a << 64 | 0b10 << 62 | rand_b
    h = f"{value:032x}"  # what str(uuid.UUID(int=value)) gives, without building the object
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def uuid7_time_ms(identifier: str) -> int:
    """The millisecond timestamp inside a UUIDv7 string."""
    return uuid.UUID(identifier).int >> 80
