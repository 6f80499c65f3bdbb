"""The sources' fetch and acknowledgement against the real brokers: RabbitMQ acknowledges
exactly the deliveries it is told to (one ``multiple`` acknowledgement only when it covers just
those), NATS hands out each message once, in order, never more unacknowledged than a batch."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from tests.streams.brokers import Bus, open_bus

from doorstep.core.spec.streams import StreamSpec
from doorstep.plugins import open_stream
from doorstep.streams.base import StreamMessage, StreamSource
from doorstep.streams.rabbitmq import ack_plan


@pytest.mark.parametrize(
    ("unacked", "tags", "run", "single"),
    [
        ([1, 2, 3, 4], {1, 2, 3, 4}, 4, []),  # the whole batch: one multiple ack of 4
        ([1, 2, 3, 4], {1, 2}, 2, []),  # a first part
        ([1, 2, 3, 4], {2, 3}, 0, [2, 3]),  # 1 is not acknowledged: no multiple
        ([1, 2, 3, 4], {1, 2, 4}, 2, [4]),  # a gap: the rest one by one
        ([5, 9, 12], {5, 9, 12}, 3, []),  # tags need not be consecutive numbers
        ([], {7}, 0, [7]),  # a tag not known: acknowledged alone, as the broker judges
        ([1, 2], set(), 0, []),
    ],
)
def test_ack_plan(unacked: list[int], tags: set[int], run: int, single: list[int]) -> None:
    assert ack_plan(unacked, tags) == (run, single)


@pytest.fixture
def rabbitmq() -> Iterator[Bus]:
    yield from open_bus("rabbitmq")


@pytest.fixture
def nats() -> Iterator[Bus]:
    yield from open_bus("nats")


def source(bus: Bus, batch: int) -> StreamSource:
    spec = StreamSpec.model_validate({"source": bus.source, "batch": batch, "wait": 0.2})
    return open_stream("orders", spec)


def fetch_all(src: StreamSource, limit: int, expected: int) -> list[StreamMessage]:
    got: list[StreamMessage] = []
    for _ in range(50):
        if len(got) >= expected:
            break
        got += src.fetch(limit, 0.2)
    return got


@pytest.mark.services
def test_rabbitmq_acknowledges_only_what_it_is_told(rabbitmq: Bus) -> None:
    for i in range(10):
        rabbitmq.publish(b'{"n": %d}' % i, f"r-{i}")
    first = source(rabbitmq, 10)
    try:
        got = fetch_all(first, 10, 10)
        assert [m.message_id for m in got] == [f"r-{i}" for i in range(10)]
        first.ack([got[0], got[1], got[3]])  # a prefix and one after a gap
        first.ack(got[6:])  # a later run, 4 and 5 still unacknowledged before it
    finally:
        first.close()  # what was not acknowledged is delivered again
    second = source(rabbitmq, 10)
    try:
        again = fetch_all(second, 10, 3)
        assert sorted(m.message_id for m in again) == ["r-2", "r-4", "r-5"]
        assert all(m.redelivered for m in again)
        second.ack(again)
        assert second.fetch(10, 0.2) == []
    finally:
        second.close()
    third = source(rabbitmq, 10)
    try:
        assert third.fetch(10, 0.3) == []  # all acknowledged
    finally:
        third.close()


@pytest.mark.services
def test_nats_hands_out_each_message_once_within_the_bound(nats: Bus) -> None:
    for i in range(25):
        nats.publish(b'{"n": %d}' % i, f"n-{i}")
    src = source(nats, 10)
    try:
        first = src.fetch(4, 0.5)
        assert [m.message_id for m in first] == [f"n-{i}" for i in range(4)]
        rest = fetch_all(src, 10, 6)
        assert [m.message_id for m in rest] == [f"n-{i}" for i in range(4, 10)]
        assert src.fetch(10, 0.2) == []  # ten unacknowledged: the consumer's max_ack_pending
        src.ack([*first, *rest])
        more: list[StreamMessage] = []
        while len(more) < 15:  # a batch at a time, acknowledged (ack_wait is 1 s here)
            batch = src.fetch(10, 0.5)
            assert batch, [m.message_id for m in more]
            src.ack(batch)
            more += batch
        assert [m.message_id for m in more] == [f"n-{i}" for i in range(10, 25)]
        assert not any(m.redelivered for m in more)
        assert src.fetch(10, 0.2) == []  # an empty stream: nothing after the wait
        assert src.lag() == 0
    finally:
        src.close()


@pytest.mark.services
def test_nats_waiting_fetch_returns_what_came(nats: Bus) -> None:
    src: Any = source(nats, 10)
    try:
        assert src.fetch(10, 0.2) == []  # a waiting pull request left open on the server
        nats.publish(b'{"n": 1}', "w-1")
        got = fetch_all(src, 10, 1)
        assert [m.message_id for m in got] == ["w-1"]
        src.ack(got)
    finally:
        src.close()
