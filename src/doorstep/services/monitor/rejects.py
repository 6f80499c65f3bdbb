"""The refused records of a report's windows (:class:`~doorstep.types.rejects.RejectsSection`)
from the store's ``rejects`` table and the decisions counted per window."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from doorstep.store.feedback import WindowCounts
from doorstep.store.rejects import RejectCount
from doorstep.types.rejects import RejectRule, RejectsSection, RejectsWindow

__all__ = ["rejects_section"]


def rejects_section(
    bounds: Sequence[tuple[datetime, datetime]],
    per_window: Sequence[WindowCounts],
    counts: Sequence[RejectCount],
) -> RejectsSection:
    """Each window of ``bounds`` with its decisions (``per_window``) and refused records
    (``counts``: per field and rule, and the window's records under rule ``*``)."""
    decided: dict[int, int] = {}
    for row in per_window:
        decided[row.window] = decided.get(row.window, 0) + row.decisions
    rules: dict[int, list[RejectRule]] = {}
    records: dict[int, int] = {}
    for count in counts:
        if count.rule == "*" and count.field is None:
            records[count.window] = count.records
        else:
            rules.setdefault(count.window, []).append(
                RejectRule(count.field, count.rule, count.rows, count.records)
            )
    windows = tuple(
        RejectsWindow(
            start,
            end,
            decided.get(index, 0),
            records.get(index, 0),
            tuple(sorted(rules.get(index, []), key=lambda r: (-r.count, r.field or "", r.rule))),
        )
        for index, (start, end) in enumerate(bounds)
    )
    return RejectsSection(windows)
