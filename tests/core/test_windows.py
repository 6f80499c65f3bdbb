"""Monitoring windows: sizes as written, calendar windows in a time zone (local midnights across
daylight saving time, Monday weeks, first-of-month months)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from doorstep.core.windows import calendar_edges, parse_window, shift_window, window_start

PARIS = ZoneInfo("Europe/Paris")


@pytest.mark.parametrize(
    ("text", "name", "rows"),
    [
        ("day", "day", 0),
        ("Month", "month", 0),
        ("5000rows", "5000rows", 5000),
        ("5_000 rows", "5000rows", 5000),
        ("10row", "10rows", 10),
    ],
)
def test_window_sizes_are_read_as_written(text: str, name: str, rows: int) -> None:
    size = parse_window(text)
    assert size.name == name and size.rows == rows and size.by_rows == bool(rows)


@pytest.mark.parametrize("text", ["fortnight", "5rows", "rows", "-5rows", ""])
def test_other_sizes_are_refused_naming_what_is_accepted(text: str) -> None:
    with pytest.raises(ValueError, match="window"):
        parse_window(text)


def test_months_start_at_local_midnight_on_the_first() -> None:
    moment = datetime(2026, 3, 31, 22, 30, tzinfo=UTC)  # 1 April 00:30 in Paris (summer time)
    start = window_start(moment, "month", PARIS)
    assert start == datetime(2026, 3, 31, 22, 0, tzinfo=UTC)  # 1 April 00:00 +02:00
    assert window_start(moment, "month") == datetime(2026, 3, 1, tzinfo=UTC)
    edges = calendar_edges(
        datetime(2025, 12, 31, 23, tzinfo=UTC),
        datetime(2026, 4, 1, tzinfo=UTC),
        "month",
        PARIS,
        limit=100,
    )
    local = [e.astimezone(PARIS) for e in edges[:-1]]
    assert [(t.year, t.month, t.day, t.hour) for t in local] == [
        (2026, 1, 1, 0),
        (2026, 2, 1, 0),
        (2026, 3, 1, 0),
        (2026, 4, 1, 0),
    ]
    assert edges[-1] == datetime(2026, 4, 1, tzinfo=UTC)


def test_a_local_day_lasts_23_hours_when_the_clocks_go_forward() -> None:
    day = window_start(datetime(2026, 3, 29, 12, tzinfo=UTC), "day", PARIS)
    following = shift_window(day, "day", 1, PARIS)
    assert following - day == timedelta(hours=23)
    assert shift_window(following, "day", -1, PARIS) == day


def test_weeks_start_on_monday_and_shift_by_calendar_weeks() -> None:
    start = window_start(datetime(2026, 3, 5, 13, tzinfo=UTC), "week", PARIS)
    assert start.astimezone(PARIS).weekday() == 0 and start.astimezone(PARIS).hour == 0
    assert shift_window(start, "week", 4, PARIS).astimezone(PARIS).weekday() == 0
    assert shift_window(datetime(2026, 1, 31, tzinfo=UTC), "month", -13) == datetime(
        2024, 12, 1, tzinfo=UTC
    )


def test_too_many_windows_are_refused() -> None:
    since = datetime(2026, 1, 1, tzinfo=UTC)
    with pytest.raises(IndexError):
        calendar_edges(since, since + timedelta(days=30), "hour", limit=100)
