"""What a lookup tells: the observer's counts (metrics) and the log of a source that goes down
and comes back — once per change, not once per request; a plugin's own exception is an
unavailable source (503), never a 500."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import pytest
from tests.services.decide.test_features import spec_with

from doorstep.errors import FeatureSourceUnavailableError
from doorstep.services.decide.features import FeatureLookup
from doorstep.sources.base import FeatureRow


class FlakySource:
    kind = "flaky"
    timeout = 2.0

    def __init__(self) -> None:
        self.name = "flaky"
        self.fields: tuple[str, ...] = ("tenure_months", "plan", "autopay")
        self.failure: Exception | None = None

    def lookup(self, ids: Sequence[str]) -> dict[str, FeatureRow]:
        if self.failure is not None:
            raise self.failure
        values = {"tenure_months": 1, "plan": "basic", "autopay": 0}
        return {i: FeatureRow(dict(values), None) for i in ids if i != "C-nobody"}

    def close(self) -> None:
        pass


class Observer:
    def __init__(self) -> None:
        self.asks: list[tuple[str, int, int]] = []
        self.calls: list[tuple[str, str]] = []
        self.refusals: list[tuple[str, int]] = []

    def asked(self, source: str, entities: int, cache_hits: int) -> None:
        self.asks.append((source, entities, cache_hits))

    def looked_up(self, source: str, outcome: str, seconds: float) -> None:
        assert 0 <= seconds < 2
        self.calls.append((source, outcome))

    def refused(self, rule: str, records: int) -> None:
        self.refusals.append((rule, records))


def lookup_of(source: FlakySource, observer: Observer, **settings: Any) -> FeatureLookup:
    spec = spec_with({"flaky": {"type": "redis", "key": "c:{id}", **settings}})
    return FeatureLookup(spec, [source], observer=observer)


def test_the_observer_hears_calls_cache_hits_and_refusals() -> None:
    source, observer = FlakySource(), Observer()
    lookup = lookup_of(source, observer, cache_ttl=60)
    records: list[dict[str, Any]] = [
        {"customer_id": "C-1"},
        {"customer_id": "C-nobody"},
        {"customer_id": "C-\x00"},
    ]
    lookup.enrich(records)
    lookup.enrich([{"customer_id": "C-1"}])  # the cache answers: the source is not called
    lookup.close()
    assert observer.asks == [("flaky", 2, 0), ("flaky", 1, 1)]
    assert observer.calls == [("flaky", "ok")]
    assert sorted(observer.refusals) == [("entity_unknown", 1), ("id_invalid", 1)]


def test_a_source_going_down_is_logged_once_and_coming_back_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    source, observer = FlakySource(), Observer()
    lookup = lookup_of(source, observer)
    caplog.set_level(logging.INFO, logger="doorstep.features")
    source.failure = FeatureSourceUnavailableError("flaky", "feature source 'flaky' failed: boom")
    for _ in range(5):
        assert set(lookup.enrich([{"customer_id": "C-1"}]).failed) == {0}
    source.failure = None
    assert lookup.enrich([{"customer_id": "C-1"}]).failed == {}
    lookup.close()
    messages = [(r.levelname, r.getMessage()) for r in caplog.records]
    assert messages == [
        (
            "WARNING",
            "feature source 'flaky' of app 't' is unavailable (unavailable): "
            "feature source 'flaky' failed: boom",
        ),
        ("INFO", "feature source 'flaky' of app 't' answers again"),
    ]
    assert observer.calls.count(("flaky", "unavailable")) == 5


def test_a_plugin_raising_its_own_error_is_unavailable_not_a_crash() -> None:
    source, observer = FlakySource(), Observer()
    source.failure = KeyError("shard 7")
    lookup = lookup_of(source, observer)
    result = lookup.enrich([{"customer_id": "C-1"}])
    lookup.close()
    failure = result.failed[0]
    assert isinstance(failure, FeatureSourceUnavailableError)
    assert failure.message == (
        "feature source 'flaky' (flaky) failed: KeyError: 'shard 7'; retry later"
    )
