"""What stream consumers report, summed per app and stream (SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from doorstep.store import Store
from doorstep.store.streams import ConsumerReport


def test_reports_are_replaced_per_consumer_and_summed_per_stream(store: Store) -> None:
    now = datetime.now(UTC)
    start = now - timedelta(minutes=10)
    base = ConsumerReport("churn", "orders", "a:1", "nats", start, now - timedelta(seconds=5))
    store.report_stream_consumer(base)
    later = ConsumerReport(
        "churn", "orders", "a:1", "nats", start, now, received=10, decided=7, duplicates=1,
        rejected=2, dead_letters=2, errors=1, lag=3, rate=4.5, last_error="store down",
        last_error_at=now - timedelta(seconds=30),
    )  # fmt: skip
    store.report_stream_consumer(later)  # replaces the first report of a:1
    gone = ConsumerReport(
        "churn", "orders", "b:2", "nats", start, now - timedelta(minutes=5), received=5,
        decided=5, lag=9, rate=100.0,
    )  # fmt: skip
    store.report_stream_consumer(gone)
    store.report_stream_consumer(ConsumerReport("churn", "clicks", "a:1", "redis", start, now))
    found = {s.stream: s for s in store.list_streams(now=now)}
    orders = found["orders"]
    assert (orders.received, orders.decided, orders.duplicates) == (15, 12, 1)
    assert (orders.rejected, orders.dead_letters, orders.errors) == (2, 2, 1)
    assert orders.consumers == 1  # b:2 has not reported for 5 minutes
    assert orders.rate == 4.5  # the running consumer's
    assert orders.lag == 3  # the latest report's
    assert orders.last_error == "store down"
    assert found["clicks"].source == "redis" and found["clicks"].lag is None


def test_lease_holders_are_the_unexpired_leases_of_a_prefix(store: Store) -> None:
    now = datetime.now(UTC)
    assert store.acquire_lease("streams:churn/orders", "a", 30, now=now)
    assert store.acquire_lease("streams:churn/clicks", "b", 30, now=now)
    assert store.acquire_lease("streams:churn/old", "c", 30, now=now - timedelta(minutes=5))
    assert store.acquire_lease("streams.member:x:a", "a", 30, now=now)
    assert store.acquire_lease("streams_churn", "d", 30, now=now)  # '_' is no wildcard
    assert store.lease_holders("streams:", now=now) == {
        "streams:churn/orders": "a",
        "streams:churn/clicks": "b",
    }
    store.release_lease("streams:churn/orders", "a")
    assert store.lease_holders("streams:") == {"streams:churn/clicks": "b"}
