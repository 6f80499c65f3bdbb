"""Entity ids as the sources receive them: checked once, before any source is asked.

A request's id is the client's text (or number). Before it reaches a database, a Redis key or
a Feast call, :func:`entity_text` makes it one canonical text or refuses it, and
:func:`source_id` checks it against the id type of the source it is sent to. A refused id
refuses its own record (rule ``id_invalid``) and never reaches a source, so one bad id can no
longer fail the other records of a micro-batch (a database refusing a NUL byte, or a number
beyond 64 bits, fails the whole statement it is bound in).

- text: at most :data:`MAX_ID_LENGTH` characters, no control characters (NUL included) and no
  lone surrogates (text no database stores);
- integers (not booleans): their decimal text (``20001`` → ``"20001"``);
- whole floats below 2**53: the integer's text (``20001.0`` → ``"20001"``), as the input
  contract writes the id of a decision; other floats are refused (``20001.5`` is no id);
- for a source with ``id_type: int``: a decimal integer within the signed 64-bit range, in its
  canonical text (``"007"`` → ``"7"``).
"""

from __future__ import annotations

import math
import re
import unicodedata
from typing import Any

__all__ = ["MAX_ID_LENGTH", "entity_text", "source_id"]

MAX_ID_LENGTH = 256
"""Longest entity id (in characters) sent to a source."""
_INT64 = 2**63
_EXACT_FLOAT = 2**53
_DECIMAL = re.compile(r"-?[0-9]{1,20}")


def entity_text(value: Any) -> str:
    """The id ``value`` as the text sources are asked for; ``ValueError`` saying what is wrong
    with it otherwise (the message reads after "the id")."""
    if isinstance(value, bool):
        raise ValueError("is a boolean; send the id as text or an integer")
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isfinite(value) and value.is_integer() and abs(value) < _EXACT_FLOAT:
            return str(int(value))
        raise ValueError(f"is the number {value!r}; send the id as text or an integer")
    if not isinstance(value, str):
        raise ValueError(f"is a JSON {_kind(value)}; send the id as text or an integer")
    if len(value) > MAX_ID_LENGTH:
        raise ValueError(f"is {len(value)} characters long; ids have at most {MAX_ID_LENGTH}")
    if value.isascii() and value.isprintable():  # the usual id: no character to look at
        return value
    for index, char in enumerate(value):
        if unicodedata.category(char) in ("Cc", "Cs"):
            raise ValueError(
                f"holds the control character U+{ord(char):04X} at position {index}; "
                "ids are printable text"
            )
    return value


def source_id(text: str, id_type: str) -> str:
    """``text`` (from :func:`entity_text`) as a source of ``id_type`` (``string`` or ``int``)
    takes it: the canonical decimal text of an integer within 64 bits for ``int``;
    ``ValueError`` otherwise."""
    if id_type != "int":
        return text
    if not _DECIMAL.fullmatch(text):
        raise ValueError("is not an integer, and the source's ids are (id_type: int)")
    number = int(text)
    if not -_INT64 <= number < _INT64:
        raise ValueError("is beyond the 64-bit integers the source's ids are (id_type: int)")
    return str(number)


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, dict):
        return "object"
    if isinstance(value, list):
        return "array"
    return type(value).__name__
