"""The windows a monitoring report covers: a window size (hour, day, week, month or N rows, see
:mod:`doorstep.core.windows`) and a range (``since``/``until``, or the latest ``periods``
windows), resolved into consecutive bounds.

Calendar windows are computed from the app's time zone (``monitoring.timezone``); windows of
rows from the store: the times of the app's decisions number 1, N + 1, 2N + 1, … (every N-th,
from its first decision), so a window of rows is the same decisions in every report.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Protocol
from zoneinfo import ZoneInfo

from doorstep.core.spec.models import Spec
from doorstep.core.windows import WindowSize, calendar_edges, parse_window, shift_window
from doorstep.core.windows import window_start as calendar_start
from doorstep.errors import InputError

__all__ = [
    "DEFAULT_PERIODS",
    "MAX_WINDOWS",
    "WindowRange",
    "alert_range",
    "resolve_range",
    "window_size",
]

DEFAULT_PERIODS: dict[str, int] = {"hour": 48, "day": 30, "week": 26, "month": 12, "rows": 30}
"""Windows reported when no ``since`` is given: two days of hours, a month of days, half a
year of weeks, a year of months, 30 windows of rows (the current window included)."""
MAX_WINDOWS = 1_000


class RowEdges(Protocol):
    def row_window_edges(self, app: str, *, rows: int) -> list[datetime]:
        """The times of the app's decisions number 1, rows + 1, 2 rows + 1, … (by time)."""
        ...


@dataclass(frozen=True)
class WindowRange:
    """Consecutive windows: ``edges`` holds each window's start, then the last one's end."""

    size: WindowSize
    edges: tuple[datetime, ...]

    @property
    def window(self) -> str:
        return self.size.name

    @property
    def since(self) -> datetime:
        return self.edges[0]

    @property
    def until(self) -> datetime:
        return self.edges[-1]

    @property
    def count(self) -> int:
        return len(self.edges) - 1

    def bounds(self, index: int) -> tuple[datetime, datetime]:
        return self.edges[index], self.edges[index + 1]

    @property
    def step_seconds(self) -> int | None:
        """The windows' common length in whole seconds, when they all have one (hours, and
        days or weeks in UTC): the store then counts them in one pass."""
        steps = {b - a for a, b in zip(self.edges[:-2], self.edges[1:-1], strict=True)}
        last = self.edges[-1] - self.edges[-2] if self.count else timedelta(0)
        if self.size.by_rows or len(steps) > 1:
            return None
        step = steps.pop() if steps else last
        if last > step or step.microseconds or not step:
            return None
        return int(step.total_seconds())


def window_size(spec: Spec, window: str | None) -> WindowSize:
    try:
        return parse_window(window or spec.monitoring.window)
    except ValueError as error:
        raise InputError(str(error)) from None


def zone_of(spec: Spec) -> ZoneInfo:
    return ZoneInfo(spec.monitoring.timezone)


def resolve_range(
    spec: Spec,
    store: RowEdges | None,
    window: str | None,
    since: datetime | None,
    until: datetime | None,
    periods: int | None,
    now: datetime,
) -> WindowRange:
    """The windows of a report: from the window holding ``since`` to ``until`` (default: the
    end of the current window), or the latest ``periods`` windows when ``since`` is not given."""
    size = window_size(spec, window)
    if size.by_rows:
        if store is None:
            raise InputError("windows of rows need the store's decisions")
        return _row_range(spec, store, size, since, until, periods, now)
    zone = zone_of(spec)
    unit = size.unit
    try:
        if until is not None:
            end = until.astimezone(UTC)
        else:
            end = shift_window(calendar_start(now, unit, zone), unit, 1, zone)
        if since is None:
            last = calendar_start(end - timedelta(microseconds=1), unit, zone)
            start = shift_window(last, unit, 1 - (periods or DEFAULT_PERIODS[unit]), zone)
        else:
            start = calendar_start(since, unit, zone)
    except (OverflowError, ValueError):
        raise InputError(
            f"The range from {since} to {until} with {periods} {unit} windows reaches past "
            "the dates a calendar can hold (years 1 to 9999). Choose dates within it."
        ) from None
    if start >= end:
        raise InputError(
            f"'since' ({start.isoformat()}) must come before 'until' ({end.isoformat()})."
        )
    try:
        edges = calendar_edges(start, end, unit, zone, limit=MAX_WINDOWS)
    except IndexError:
        raise InputError(
            f"The range holds more than {MAX_WINDOWS} {unit} windows; at most {MAX_WINDOWS} are "
            "reported. Choose a longer window or a shorter range."
        ) from None
    return WindowRange(size, tuple(edges))


def _row_range(
    spec: Spec,
    store: RowEdges,
    size: WindowSize,
    since: datetime | None,
    until: datetime | None,
    periods: int | None,
    now: datetime,
) -> WindowRange:
    """Windows of ``size.rows`` decisions: those starting within ``[since, until)``, or the
    latest ``periods``; the last one ends at ``until`` (default: just after ``now``)."""
    try:
        end = until.astimezone(UTC) if until is not None else now + timedelta(microseconds=1)
    except OverflowError:
        end = now
    starts = [t for t in store.row_window_edges(spec.app.name, rows=size.rows) if t < end]
    if since is not None:
        since = since.astimezone(UTC)
        kept = [t for t in starts if t >= since]
        earlier = [t for t in starts if t < since]
        if earlier and (not kept or kept[0] > since):
            kept.insert(0, earlier[-1])  # the window holding ``since``
        starts = kept
    else:
        starts = starts[-(periods or DEFAULT_PERIODS["rows"]) :]
    if not starts:  # no decisions yet: one empty window, so the report has a shape
        try:
            first = since if since is not None else end - timedelta(days=1)
        except OverflowError:
            first = end
        if first >= end:
            raise InputError(
                f"'since' ({first.isoformat()}) must come before 'until' ({end.isoformat()})."
            )
        starts = [first]
    if len(starts) > MAX_WINDOWS:
        raise InputError(
            f"The range holds {len(starts)} windows of {size.rows} rows; at most {MAX_WINDOWS} "
            "are reported. Choose larger windows or a shorter range."
        )
    return WindowRange(size, (*starts, end))


def alert_range(
    spec: Spec, store: RowEdges, *, now: datetime, include_current: bool, periods: int
) -> tuple[WindowRange, datetime, datetime]:
    """What a monitor run judges: the latest ``periods`` windows ending with the one judged
    (the current one with ``include_current``, else the latest complete one), and that
    window's bounds."""
    size = window_size(spec, None)
    wanted = max(1, periods)
    if size.by_rows:
        full = resolve_range(spec, store, None, None, None, wanted + 1, now)
        edges = full.edges if include_current or full.count < 2 else full.edges[:-1]
        span = WindowRange(size, edges[-(wanted + 1) :])
    else:
        zone = zone_of(spec)
        current = calendar_start(now, size.unit, zone)
        end = shift_window(current, size.unit, 1, zone) if include_current else current
        since = shift_window(end, size.unit, -wanted, zone)
        span = WindowRange(
            size, tuple(calendar_edges(since, end, size.unit, zone, limit=MAX_WINDOWS))
        )
    return span, span.edges[-2], span.edges[-1]
