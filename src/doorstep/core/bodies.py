"""JSON request bodies that carry one item or many: ``{...}`` (one record, one outcome) or
``{"records": [...]}`` / ``{"outcomes": [...]}``. One parser for every such route, with one
wording for what is wrong with a body.

orjson parses for speed; what it refuses and Python's own parser reads (integers beyond 64 bits,
``NaN``) is parsed again by the standard library, so those reach the input contract as values
to judge and name, not as a broken body.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import orjson

from doorstep.errors import PayloadTooLargeError, RecordError, RecordsInvalidError

__all__ = ["MAX_DEPTH", "Unreadable", "loads", "parse_json", "parse_one_or_many"]

MAX_DEPTH = 1024
"""Deepest nesting of arrays and objects a body may have (orjson's own limit)."""


def loads(body: bytes) -> Any:
    """The JSON value of ``body`` (see the module docstring); ``ValueError`` when it is not JSON
    or is nested deeper than :data:`MAX_DEPTH`."""
    return _loads(body)[0]


def _loads(body: bytes) -> tuple[Any, bool]:
    """The value, and whether the standard parser had to read it (then its text may hold what
    orjson refuses: lone surrogates)."""
    try:
        return orjson.loads(body), False
    except orjson.JSONDecodeError as exc:
        if "depth" in str(exc) or "recursion" in str(exc):
            raise ValueError(f"arrays and objects nested more than {MAX_DEPTH} deep") from None
    try:
        return json.loads(body), True
    except RecursionError:
        raise ValueError(f"arrays and objects nested more than {MAX_DEPTH} deep") from None


def parse_json(body: bytes) -> Any:
    """The JSON value of a request body, or :class:`RecordsInvalidError` (rule ``json``) naming
    what is wrong with it."""
    try:
        return loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise RecordsInvalidError(
            f"The request body is not valid JSON: {exc}.",
            [RecordError(None, None, None, "json", f"not valid JSON: {exc}")],
        ) from None


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
        value, standard = _loads(body)
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
        return [_readable(value) if standard else value], True
    if len(items) > max_items:
        raise PayloadTooLargeError(
            f"The batch holds {len(items)} {noun}s; at most {max_items} are accepted per "
            "request. Split it into several requests."
        )
    return [_readable(item) for item in items] if standard else items, False


@dataclass(frozen=True)
class Unreadable:
    """An item that cannot be read as text: one of its strings holds a lone surrogate (JSON
    ``"\\ud800"``), which is no character at all. It takes the item's place in the list, so
    the caller refuses that item alone (rule ``encoding``, naming ``field``)."""

    field: str | None
    """The item's top-level key whose value (or a string inside it) is unreadable; ``None``
    when a key itself is."""
    original: Any = None
    """The item as parsed (for its id, when that is readable)."""

    def value_of(self, name: str) -> str | None:
        """The item's ``name`` when it is readable text (e.g. its entity id), else ``None``."""
        value = self.original.get(name) if isinstance(self.original, dict) else None
        return value if isinstance(value, str) and not _unencodable(value) else None

    @property
    def message(self) -> str:
        where = "a key" if self.field is None else f"{self.field}"
        return f"{where} holds text that is not valid Unicode (a lone surrogate, e.g. \\ud800)"


def _readable(item: Any) -> Any:
    """``item``, or :class:`Unreadable` when a string in it cannot be encoded as UTF-8."""
    if not isinstance(item, dict):
        return Unreadable(None, item) if _unencodable(item) else item
    for name, value in item.items():
        if _unencodable(name):
            return Unreadable(None, item)
        if _unencodable(value):
            return Unreadable(name, item)
    return item


def _unencodable(value: Any) -> bool:
    """Whether a string anywhere in ``value`` holds a surrogate (walked without recursion)."""
    stack = [value]
    while stack:
        current = stack.pop()
        if isinstance(current, str):
            if not current.isascii():
                try:
                    current.encode("utf-8")
                except UnicodeEncodeError:
                    return True
        elif isinstance(current, dict):
            stack.extend(current.keys())
            stack.extend(current.values())
        elif isinstance(current, list):
            stack.extend(current)
    return False
