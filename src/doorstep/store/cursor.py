"""Opaque pagination cursors: the (created_at, id) of the last item of a page."""

from __future__ import annotations

import base64
import json
from datetime import datetime

from doorstep.errors import InputError
from doorstep.store.canonical import iso

__all__ = ["decode_cursor", "encode_cursor"]


def encode_cursor(created_at: datetime, decision_id: str) -> str:
    raw = json.dumps([iso(created_at), decision_id], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, str]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        moment, decision_id = json.loads(raw)
        return datetime.fromisoformat(moment), str(decision_id)
    except (ValueError, TypeError) as error:
        raise InputError(
            f"The cursor {cursor[:40]!r} is not one this server issued; pass the next_cursor "
            "of the previous page unchanged."
        ) from error
