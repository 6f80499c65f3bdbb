"""How a feature source is called for one lookup: rows reused from a cache for ``cache_ttl``
seconds, the time the call took, and the ids a source refuses as data isolated from the rest."""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Sequence

from doorstep.errors import EntityIdRefusedError
from doorstep.sources.base import FeatureRow, FeatureSource

__all__ = ["Looked", "RowCache", "Timed", "isolating", "timed"]


class RowCache:
    """Rows by entity id for ``ttl`` seconds, at most ``size`` of them (oldest out first)."""

    def __init__(self, ttl: float, size: int) -> None:
        self.ttl, self.size = ttl, size
        self._rows: OrderedDict[str, tuple[float, FeatureRow]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, ids: Sequence[str]) -> tuple[dict[str, FeatureRow], list[str]]:
        now = time.monotonic()
        hits: dict[str, FeatureRow] = {}
        misses: list[str] = []
        with self._lock:
            for entity_id in ids:
                entry = self._rows.get(entity_id)
                if entry is not None and entry[0] > now:
                    hits[entity_id] = entry[1]
                else:
                    misses.append(entity_id)
        return hits, misses

    def put(self, rows: dict[str, FeatureRow]) -> None:
        expires = time.monotonic() + self.ttl
        with self._lock:
            for entity_id, row in rows.items():
                self._rows[entity_id] = (expires, row)
                self._rows.move_to_end(entity_id)
            while len(self._rows) > self.size:
                self._rows.popitem(last=False)


Looked = tuple[dict[str, FeatureRow], dict[str, str]]
Timed = tuple[Looked, float]


def timed(source: FeatureSource, ids: list[str]) -> Timed:
    started = time.monotonic()
    return isolating(source, ids), time.monotonic() - started


def isolating(source: FeatureSource, ids: list[str]) -> Looked:
    """``source.lookup(ids)``; when the source refuses an id as data
    (:class:`EntityIdRefusedError`), the ids are split in halves and looked up again until the
    ids at fault are alone: the others' rows are found, each of them is returned with the
    source's word (at most about ``2 log2(n)`` more round trips per bad id)."""
    try:
        return source.lookup(ids), {}
    except EntityIdRefusedError as error:
        if len(ids) == 1:
            return {}, {ids[0]: error.message}
    half = len(ids) // 2
    rows, bad = isolating(source, ids[:half])
    more_rows, more_bad = isolating(source, ids[half:])
    return {**rows, **more_rows}, {**bad, **more_bad}
