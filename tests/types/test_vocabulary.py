"""The vocabulary is one import away and immutable: every name of ``doorstep.types.__all__``
resolves, and the monitoring report's parts are frozen dataclasses (a reader cannot change the
report another reader sees); a drift section's status and latest window follow its windows."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

import pytest

import doorstep.types as vocabulary
from doorstep.types import (
    DriftReport,
    DriftSection,
    DriftThresholds,
    DriftWindow,
    MonitoringReport,
    OverrideWindow,
    QualityWindow,
)

DAY = datetime(2025, 3, 1, tzinfo=UTC)


def test_every_name_resolves() -> None:
    for name in vocabulary.__all__:
        assert getattr(vocabulary, name) is not None, name


@pytest.mark.parametrize("kind", [MonitoringReport, QualityWindow, OverrideWindow, DriftWindow])
def test_the_report_is_frozen(kind: type) -> None:
    params = getattr(kind, "__dataclass_params__", None)
    assert params is not None and params.frozen, kind


def window(day: int, status: str | None) -> DriftWindow:
    start = DAY + timedelta(days=day)
    found = None if status is None else DriftReport(rows=10, features=(), status=status)  # type: ignore[arg-type]
    return DriftWindow(start, start + timedelta(days=1), found)


def test_a_drift_section_is_as_bad_as_its_worst_window_measured() -> None:
    section = DriftSection(
        features={},
        reference_rows=0,
        thresholds=DriftThresholds(),
        attribution=vocabulary.AttributionSetup(0, 0, None, None),
        windows=(window(0, "warn"), window(1, "insufficient_data"), window(2, None)),
    )
    assert section.status == "warn"
    assert section.latest is section.windows[1]
    assert section.windows[2].status == "insufficient_data" and section.windows[2].rows == 0
    with pytest.raises(dataclasses.FrozenInstanceError):
        section.reference_rows = 1  # type: ignore[misc]
    empty = dataclasses.replace(section, windows=(window(0, None),))
    assert empty.status == "insufficient_data" and empty.latest is None  # nothing measured
    assert empty.to_dict()["latest"] is None
