"""Canonical JSON: the one serialisation that hashes, digests and stored JSON columns share.

Keys sorted, no spaces, UTF-8, no NaN/Infinity (PostgreSQL's JSON refuses them). NumPy scalars
become their Python values and datetimes ISO 8601 strings, so that a value read back from the
database serialises to exactly the same bytes as the value that was written.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from json.encoder import encode_basestring
from typing import Any

import orjson

__all__ = ["canonical_bytes", "canonical_json", "dump_json", "iso"]


def _default(value: Any) -> Any:
    if isinstance(value, datetime):
        return iso(value)
    item = getattr(value, "item", None)
    if callable(item):
        return item()
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable; store JSON values only")


_encoder = json.JSONEncoder(
    sort_keys=True,
    separators=(",", ":"),
    ensure_ascii=False,
    allow_nan=False,
    check_circular=False,
    default=_default,
)


_DUMP_OPTIONS = orjson.OPT_PASSTHROUGH_DATETIME


def dump_json(value: Any) -> str:
    """Compact JSON in the value's own key order: for stored columns whose exact text is
    digested (so it need not be canonical, only kept verbatim). NaN and infinities become
    ``null``; datetimes are written as :func:`iso` writes them."""
    return orjson.dumps(value, default=_default, option=_DUMP_OPTIONS).decode()


# the C encoder that ``_encoder.encode`` builds afresh on every call, built once: the same
# code path and bytes (``JSONEncoder.iterencode`` with ``_one_shot``), without the set-up
_c_make_encoder: Any = getattr(json.encoder, "c_make_encoder", None)  # untyped; None without C
_encode_c: Any = (
    _c_make_encoder(None, _default, encode_basestring, None, ":", ",", True, False, False)
    if _c_make_encoder is not None
    else None
)


def canonical_json(value: Any) -> str:
    if _encode_c is None or isinstance(value, str):
        return _encoder.encode(value)
    return "".join(_encode_c(value, 0))


def canonical_bytes(value: Any) -> bytes:
    return canonical_json(value).encode()


def iso(moment: datetime) -> str:
    """UTC ISO 8601 with microseconds; naive datetimes are taken as UTC."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).isoformat(timespec="microseconds")
