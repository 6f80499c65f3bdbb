"""``streams`` in the spec: valid ones load; broken ones are located (file:line key)."""

from __future__ import annotations

import pytest

from doorstep.core.spec.loader import parse_spec
from doorstep.core.spec.streams import (
    NATSStreamSourceSpec,
    PluginStreamSourceSpec,
    RedisStreamSourceSpec,
)
from doorstep.errors import SpecError

GOOD = """\
app: {name: shop, owner: o}
model: {path: m.txt}
inputs:
  id: order_id
  fields:
    amount: {type: float, min: 0}
streams:
  orders:
    source: {type: nats, url: "nats://127.0.0.1:4222", stream: ORD, subject: o.new, durable: fraud}
    id: order
    dedupe: message_id
    dead_letter: {subject: orders.rejected}
  clicks:
    source:
      type: redis
      stream: clicks
      group: doorstep
    batch: 500
  later:
    source: {type: kafka, topic: orders, brokers: "k:9092"}
"""


def problems(text: str) -> list[str]:
    with pytest.raises(SpecError) as caught:
        parse_spec(text, file="app.yaml", env={})
    return [str(issue) for issue in caught.value.issues]


def test_streams_load() -> None:
    streams = parse_spec(GOOD, file="app.yaml", env={}).spec.streams
    assert isinstance(streams["orders"].source, NATSStreamSourceSpec)
    assert streams["orders"].source.durable == "fraud"
    assert isinstance(streams["clicks"].source, RedisStreamSourceSpec)
    assert streams["clicks"].batch == 500 and streams["clicks"].dead_letter is None
    plugin = streams["later"].source  # a plugin's type: its own spec_model checks it later
    assert isinstance(plugin, PluginStreamSourceSpec) and plugin.type == "kafka"


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (("durable: fraud}", "durabel: fraud}"),
         "app.yaml:9 streams.orders.source.durabel: unknown key"),
        (("      group: doorstep\n", ""), "app.yaml:14 streams.clicks.source.group:"),
        (("batch: 500", "batch: 0"), "app.yaml:18 streams.clicks.batch: "),
        (("dead_letter: {subject: orders.rejected}", "dead_letter: {topic: x}"),
         "app.yaml:12 streams.orders.dead_letter: a nats stream's dead letters need 'subject'"),
        (("    id: order\n", "    id: amount\n"),
         "app.yaml:10 streams.orders.id: 'amount' is an input field, not the entity id"),
        (('url: "nats://127.0.0.1:4222"', 'url: "nats://127.0.0.1:port"'),
         "app.yaml:9 streams.orders.source.url: the port of the URL is not a number"),
    ],
)  # fmt: skip
def test_broken_streams_are_located(change: tuple[str, str], expected: str) -> None:
    old, new = change
    assert old in GOOD
    found = problems(GOOD.replace(old, new))
    assert any(expected in p for p in found), found
