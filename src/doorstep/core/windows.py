"""Monitoring windows: ``hour``, ``day``, ``week``, ``month`` or ``N rows`` (``5000rows``).

Calendar windows (day, week, month) start at midnight **in the app's time zone**
(``monitoring.timezone``, UTC by default): a day is a local day (23 or 25 hours across a change
of daylight saving time), a week starts on Monday, a month on its first day. Hours are hours of
UTC. Windows of ``N`` rows hold ``N`` decisions each, counted from the app's first decision, so
the same decisions fall in the same window however the range is chosen; their bounds are the
times of the first decision of each (see :func:`row_edges` and the store's
``row_window_edges``). The last one still fills.

Everything here is pure: bounds are computed from times and a time zone, never read.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Literal

__all__ = [
    "CALENDAR_UNITS",
    "WINDOW_PATTERN",
    "WindowSize",
    "calendar_edges",
    "parse_window",
    "parse_window_name",
    "shift_window",
    "window_start",
]

CALENDAR_UNITS = ("hour", "day", "week", "month")
Unit = Literal["hour", "day", "week", "month", "rows"]
_ROWS = re.compile(r"^\s*(\d[\d_]*)\s*rows?\s*$")
WINDOW_PATTERN = r"^(hour|day|week|month|[0-9][0-9_]*rows)$"
"""A window as a query parameter takes (``?window=5000rows``)."""
MIN_ROWS = 10
"""The smallest window of rows: fewer makes every statistic meaningless."""


@dataclass(frozen=True)
class WindowSize:
    """A window's size: a calendar unit, or a number of decisions (``unit`` ``rows``)."""

    unit: Unit
    rows: int = 0

    @property
    def name(self) -> str:
        """As written in a spec or on the command line: ``day``, ``5000rows``."""
        return f"{self.rows}rows" if self.unit == "rows" else self.unit

    @property
    def by_rows(self) -> bool:
        return self.unit == "rows"


def parse_window(text: str) -> WindowSize:
    """``hour``, ``day``, ``week``, ``month`` or ``N rows`` (``5000rows``, ``5000 rows``);
    ``ValueError`` naming what is accepted otherwise."""
    try:
        return parse_window_name(text)
    except ValueError as exc:
        raise ValueError(f"{exc}. Got {text!r} instead.") from None


def parse_window_name(text: str) -> WindowSize:
    """:func:`parse_window` for a spec's key, whose errors the spec's loader completes with
    the value it got."""
    name = text.strip().lower()
    if name in CALENDAR_UNITS:
        return WindowSize(name)  # type: ignore[arg-type]  # one of CALENDAR_UNITS
    found = _ROWS.match(name)
    if found is not None:
        rows = int(found.group(1).replace("_", ""))
        if rows < MIN_ROWS:
            raise ValueError(f"A window of rows holds at least {MIN_ROWS} rows")
        return WindowSize("rows", rows)
    raise ValueError(
        "The window must be hour, day, week, month or a number of rows such as 5000rows"
    )


def window_start(moment: datetime, unit: str, zone: tzinfo = UTC) -> datetime:
    """The start (UTC) of the calendar window holding ``moment``."""
    if unit == "hour":
        return moment.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
    local = moment.astimezone(zone)
    day = datetime(local.year, local.month, local.day, tzinfo=zone)
    if unit == "week":
        day = _local_days(day, -day.weekday(), zone)
    elif unit == "month":
        day = datetime(local.year, local.month, 1, tzinfo=zone)
    elif unit != "day":
        raise ValueError(f"{unit!r} is not a calendar window")
    return day.astimezone(UTC)


def shift_window(start: datetime, unit: str, count: int, zone: tzinfo = UTC) -> datetime:
    """The start (UTC) of the calendar window ``count`` windows after (before, when negative)
    the one starting at ``start``."""
    if unit == "hour":
        return start + timedelta(hours=count)
    local = start.astimezone(zone)
    midnight = datetime(local.year, local.month, local.day, tzinfo=zone)
    if unit == "day":
        return _local_days(midnight, count, zone).astimezone(UTC)
    if unit == "week":
        return _local_days(midnight, 7 * count, zone).astimezone(UTC)
    if unit == "month":
        months = local.year * 12 + (local.month - 1) + count
        return datetime(months // 12, months % 12 + 1, 1, tzinfo=zone).astimezone(UTC)
    raise ValueError(f"{unit!r} is not a calendar window")


def _local_days(midnight: datetime, days: int, zone: tzinfo) -> datetime:
    """Local midnight ``days`` calendar days after ``midnight`` (a wall-clock date, not
    ``days * 24`` hours: daylight saving time moves the hours, not the dates)."""
    moved = (midnight.replace(tzinfo=None) + timedelta(days=days)).date()
    return datetime(moved.year, moved.month, moved.day, tzinfo=zone)


def calendar_edges(
    since: datetime, until: datetime, unit: str, zone: tzinfo = UTC, *, limit: int
) -> list[datetime]:
    """The bounds of the calendar windows from ``since`` (a window start) to ``until``: the
    start of each window, then ``until``; ``ValueError`` past ``limit`` windows."""
    edges = [since]
    while edges[-1] < until:
        if len(edges) > limit:
            raise IndexError(f"more than {limit} windows")
        try:
            following = shift_window(edges[-1], unit, 1, zone)
        except (OverflowError, ValueError):  # past the calendar's end: the last one ends there
            following = until
        edges.append(min(following, until))
    return edges
