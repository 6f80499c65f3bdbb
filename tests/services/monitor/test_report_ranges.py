"""Any range a caller can ask for — dates at the ends of the calendar, any window, any number of
periods — gives a report or an InputError naming the problem, never another exception (the API,
the report page and the dashboard panel all pass a caller's range straight through)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tests.services.monitor.test_report import NOW, simulate, spec

from doorstep.errors import InputError
from doorstep.services.monitor.report import monitoring_report
from doorstep.store import Store, open_store

EDGES = [
    datetime.min.replace(tzinfo=UTC),
    datetime.min.replace(tzinfo=UTC) + timedelta(days=1),
    datetime(1970, 1, 1, tzinfo=UTC),
    NOW,
    datetime.max.replace(tzinfo=UTC) - timedelta(days=30),
    datetime.max.replace(tzinfo=UTC) - timedelta(seconds=1),
    datetime.max.replace(tzinfo=UTC),
]


@pytest.fixture(scope="module")
def filled(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Store]:
    path: Path = tmp_path_factory.mktemp("ranges") / "doorstep.db"
    with open_store(f"sqlite:///{path}") as store:
        simulate(store, 300, seed=3)
        yield store


moments = st.one_of(st.sampled_from(EDGES), st.datetimes(timezones=st.just(UTC)))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    since=st.none() | moments,
    until=st.none() | moments,
    window=st.sampled_from([None, "hour", "day", "week", "month", "50rows"]),
    periods=st.none() | st.integers(min_value=1, max_value=10**7),
)
def test_any_range_is_a_report_or_an_input_error(
    filled: Store,
    since: datetime | None,
    until: datetime | None,
    window: str | None,
    periods: int | None,
) -> None:
    try:
        report = monitoring_report(
            spec(), filled, window=window, since=since, until=until, periods=periods, now=NOW
        )
    except InputError:
        return
    assert report.since < report.until
    assert len(report.quality.windows) <= 1000


def test_a_range_that_ends_at_the_calendars_end_is_reported(filled: Store) -> None:
    until = datetime.max.replace(tzinfo=UTC) - timedelta(seconds=1)
    report = monitoring_report(spec(), filled, until=until, periods=3, now=NOW)
    windows = report.quality.windows
    assert len(windows) >= 3 and windows[-1].end == until
