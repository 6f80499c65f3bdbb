"""UUIDv7 identifiers: format (RFC 9562) and ordering."""

from __future__ import annotations

import re
import time
import uuid

import pytest

from doorstep.ids import new_id, sequenced_id, uuid7_time_ms

UUID7 = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")


def test_format_version_and_variant() -> None:
    for _ in range(1000):
        value = new_id()
        assert UUID7.match(value), value
        parsed = uuid.UUID(value)
        assert parsed.version == 7
        assert parsed.variant == uuid.RFC_4122


def test_timestamp_is_now() -> None:
    before = time.time_ns() // 1_000_000
    value = new_id()
    after = time.time_ns() // 1_000_000
    assert before <= uuid7_time_ms(value) <= after + 1


def test_ids_increase_within_a_process() -> None:
    values = [new_id() for _ in range(50_000)]
    assert values == sorted(values)
    assert len(set(values)) == len(values)


def test_ids_from_later_milliseconds_sort_later() -> None:
    first = new_id()
    time.sleep(0.002)
    assert new_id() > first


def test_a_derived_id_is_a_uuid7_made_of_its_time_and_name() -> None:
    from doorstep.ids import derived_id

    ms = 1_746_064_800_000
    first = derived_id(ms, "churn\nnightly\n2025-05-01T02:00:00+00:00\nC-1")
    assert UUID7.match(first) and uuid7_time_ms(first) == ms
    assert derived_id(ms, "churn\nnightly\n2025-05-01T02:00:00+00:00\nC-1") == first
    others = {
        derived_id(ms, f"churn\nnightly\n2025-05-01T02:00:00+00:00\nC-{i}") for i in range(2, 1000)
    }
    assert len(others) == 998 and first not in others
    assert derived_id(ms + 1, "churn\nnightly\n2025-05-01T02:00:00+00:00\nC-1") != first


def test_sequenced_ids_are_stable_uuid7s_that_sort_by_number() -> None:
    ms = 1_767_000_000_000
    made = [sequenced_id(ms, "churn\nrun\nR\nrows\n", n) for n in range(1, 2_000)]
    assert all(UUID7.match(value) for value in made)
    assert made == sorted(made) and len(set(made)) == len(made)
    assert all(uuid7_time_ms(value) == ms for value in made)
    assert sequenced_id(ms, "churn\nrun\nR\nrows\n", 7) == made[6]  # the same every time
    assert sequenced_id(ms, "churn\nrun\nS\nrows\n", 7) != made[6]  # another run, another id
    with pytest.raises(ValueError, match="number must be"):
        sequenced_id(ms, "x", 1 << 34)
