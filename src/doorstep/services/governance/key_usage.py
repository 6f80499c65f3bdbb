"""When each API key was last used, recorded cheaply: a server process writes a key's
``last_used_at`` at most once per ``every`` seconds (a minute), never once per request. The
check is a dictionary read; the write, when due, one ``UPDATE`` of the key's row (a later
moment only, so several processes never move it back). A failed write is logged and retried
on the key's next use: it never fails the request."""

from __future__ import annotations

import logging
import threading
from datetime import datetime
from typing import Protocol

__all__ = ["KEY_USE_SECONDS", "KeyUsage", "KeyUsageStore"]

KEY_USE_SECONDS = 60.0
"""How often, at most, one process records one key's use."""

logger = logging.getLogger("doorstep.keys")


class KeyUsageStore(Protocol):
    def touch_keys(self, used: dict[str, datetime]) -> None: ...


class KeyUsage:
    """Notes each key's uses for one server process (thread-safe)."""

    def __init__(self, store: KeyUsageStore, *, every: float = KEY_USE_SECONDS) -> None:
        self.store = store
        self.every = every
        self._written: dict[str, datetime] = {}
        self._lock = threading.Lock()

    def due(self, key_id: str, now: datetime) -> bool:
        """Whether a use of ``key_id`` at ``now`` should be written (no I/O)."""
        last = self._written.get(key_id)
        return last is None or (now - last).total_seconds() >= self.every

    def record(self, key_id: str, now: datetime) -> bool:
        """Write the use when it is still due (another thread may have just done it); ``True``
        when written."""
        with self._lock:
            if not self.due(key_id, now):
                return False
            self._written[key_id] = now
            if len(self._written) > 10_000:
                self._written = {key_id: now}
        try:
            self.store.touch_keys({key_id: now})
        except Exception:  # best effort: the next use tries again
            logger.warning("could not record the use of API key %s", key_id, exc_info=True)
            with self._lock:
                self._written.pop(key_id, None)
            return False
        return True
