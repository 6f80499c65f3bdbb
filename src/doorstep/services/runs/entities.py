"""The entities of a run, whole: every row of one entity id in the same chunk, and an id with
more than one row refused rather than decided twice (or on one row picked at random).

A scan yields rows in entity id order, ``chunk_rows`` at a time, so the rows of one id are
adjacent but may straddle two chunks (or more). :func:`whole_entities` holds the rows of each
chunk's last id back until the next chunk shows whether the id goes on; a chunk it yields ends
on a whole entity, so the checkpoint committed with it (its last id) is never an entity half
read, and a run resumed after it reads every row of the next id."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator

from doorstep.errors import RecordError
from doorstep.sources.base import FeatureRow

__all__ = ["AMBIGUOUS", "ambiguous_rows", "whole_entities"]

AMBIGUOUS = "entity_ambiguous"
"""The rule of an entity id the source holds more than one row for (as for online lookups)."""

Rows = list[tuple[str, FeatureRow]]


def whole_entities(chunks: Iterable[Rows]) -> Iterator[Rows]:
    """``chunks`` (rows in entity id order) cut again so that no entity straddles two chunks."""
    held: Rows = []
    for chunk in chunks:
        if not chunk:
            continue
        rows = held + chunk if held else chunk
        last = rows[-1][0]
        cut = len(rows)
        while cut > 0 and rows[cut - 1][0] == last:
            cut -= 1
        held = rows[cut:]
        if cut:
            yield rows[:cut]
    if held:
        yield held


def ambiguous_rows(rows: Rows, id_field: str, source: str) -> tuple[set[str], list[RecordError]]:
    """The ids of ``rows`` that have more than one row, and one error per row of each (rule
    :data:`AMBIGUOUS`): none of them is decided."""
    counts = Counter(entity for entity, _ in rows)
    repeated = {entity for entity, count in counts.items() if count > 1}
    errors = [
        RecordError(
            None,
            entity,
            id_field,
            AMBIGUOUS,
            f"{id_field} {entity!r} has {counts[entity]} rows in feature source {source!r}, "
            "which cannot tell which one is meant; none of them was decided: make the "
            "source's key unique",
        )
        for entity, _ in rows
        if entity in repeated
    ]
    return repeated, errors
