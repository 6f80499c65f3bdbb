"""JSON request bodies that carry one item or many: ``{...}`` (one record, one outcome) or
``{"records": [...]}`` / ``{"outcomes": [...]}``. One parser for every such route, with one
wording for what is wrong with a body.

orjson parses for speed; what it refuses and Python's own parser reads (integers beyond 64 bits,
``NaN``) is parsed again by the standard library, so those reach the input contract as values
to judge and name, not as a broken body.
"""

from __future__ import annotations

import json
from typing import Any

import orjson

from doorstep.errors import PayloadTooLargeError, RecordError, RecordsInvalidError

__all__ = ["loads", "parse_one_or_many"]


def loads(body: bytes) -> Any:
    """The JSON value of ``body`` (see the module docstring); ``ValueError`` when it is not JSON."""
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError:
        return json.loads(body)


def parse_one_or_many(
    body: bytes, *, key: str, noun: str, max_items: int
) -> tuple[list[Any], bool]:
    """``(items, single)`` from a body holding one JSON object (``single``) or ``{key: [...]}``.

    ``noun`` names one item in messages (``record``, ``outcome``). A body that is not JSON, or
    not an object, is :class:`RecordsInvalidError` (rule ``json`` or ``type``); more than
    ``max_items`` items is :class:`PayloadTooLargeError`. Items are returned as they are: each
    is judged on its own by the caller."""
    shape = f'one {noun} as a JSON object, or {{"{key}": [...]}}'
    try:
        value = loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise RecordsInvalidError(
            f"The request body is not valid JSON: {exc}. Send {shape}.",
            [RecordError(None, None, None, "json", f"not valid JSON: {exc}")],
        ) from None
    if not isinstance(value, dict):
        raise RecordsInvalidError(
            f"The request body must be a JSON object, got {type(value).__name__}. Send {shape}.",
            [RecordError(None, None, None, "type", "the body must be a JSON object")],
        )
    items = value.get(key)
    if len(value) != 1 or not isinstance(items, list):
        return [value], True
    if len(items) > max_items:
        raise PayloadTooLargeError(
            f"The batch holds {len(items)} {noun}s; at most {max_items} are accepted per "
            "request. Split it into several requests."
        )
    return items, False
