"""What a lineage says of a row: its age, stale or not, and an update time in the future (a
wrong clock or a wrong column), which is suspicious rather than fresh."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from doorstep.core.spec.sources import SQLSourceSpec
from doorstep.services.decide.lineage import FUTURE_SKEW, source_lineage
from doorstep.sources.base import FeatureRow

NOW = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)


def settings(**more: object) -> SQLSourceSpec:
    return SQLSourceSpec.model_validate(
        {"type": "sql", "url": "sqlite://", "table": "t", "observed_at": "at", **more}
    )


def judge(ahead: timedelta, spec: SQLSourceSpec) -> tuple[dict[str, object], str | None]:
    row = FeatureRow({"plan": "basic"}, NOW + ahead)
    entry, error = source_lineage("db", spec, "C-1", ["plan"], row, NOW, record=0)
    return entry, None if error is None else f"{error.rule}: {error.message}"


def test_a_row_dated_in_the_future_is_stale_when_the_source_has_a_max_age() -> None:
    entry, error = judge(timedelta(hours=3), settings(max_age="2d"))
    assert entry["age_seconds"] == -10_800.0
    assert entry["future"] is True and entry["stale"] is True
    assert error is not None and error.startswith("stale: ")
    assert "dated 3.0 hours in the future (2026-12-07T15:00:00+00:00)" in error
    assert "clock or its update times are wrong" in error


def test_a_future_row_is_flagged_when_the_source_flags_stale_rows() -> None:
    entry, error = judge(timedelta(days=2), settings(max_age="2d", on_stale="flag"))
    assert (entry["future"], entry["stale"], error) == (True, True, None)


def test_a_future_row_without_max_age_is_flagged_in_the_lineage_only() -> None:
    entry, error = judge(timedelta(hours=1), settings())
    assert (entry["future"], "stale" in entry, error) == (True, False, None)


@pytest.mark.parametrize("ahead", [timedelta(0), timedelta(minutes=2), FUTURE_SKEW])
def test_clock_skew_within_five_minutes_is_fresh(ahead: timedelta) -> None:
    entry, error = judge(ahead, settings(max_age="1h"))
    assert "future" not in entry and entry["stale"] is False and error is None
    assert entry["age_seconds"] == -ahead.total_seconds()
