"""The audit head exported on a schedule (``audit.anchor``): once per app and slot across
processes, to the log and a connector, and checkable later with ``--expect``."""

from __future__ import annotations

import json
import logging
import re
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from doorstep.core.spec.audit import AnchorSpec
from doorstep.core.spec.loader import parse_spec
from doorstep.errors import SpecError
from doorstep.services.deliver.connectors import SpecFile, open_app_connectors
from doorstep.services.deliver.dispatcher import Dispatcher
from doorstep.services.governance.anchor import HeadExporter, anchor_key, anchor_slot
from doorstep.services.governance.audit import Anchor, verify_audit
from doorstep.store import DeliveryQuery, Store
from doorstep.store.tables import audit_events

T0 = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)
SPEC = """
app: {name: churn, owner: maria@example.com}
model: {path: model.txt}
inputs:
  id: customer_id
  fields:
    tenure_months: {type: int}
audit:
  anchor: {every: 1h, connector: audit_copy}
connectors:
  audit_copy: {type: file, path: heads.jsonl}
"""


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def test_slots_start_at_whole_multiples_of_every() -> None:
    hour = timedelta(hours=1)
    assert anchor_slot(hour, T0 + timedelta(minutes=59)) == T0
    assert anchor_slot(hour, T0 + hour) == T0 + hour
    assert anchor_key("churn", T0) == "audit-anchor:churn:2030-01-01T12:00:00Z"


def test_each_slot_is_exported_once_whichever_process_gets_there_first(
    store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    store.create_key("crm", "client", actor="admin")  # event 1
    clock = Clock(T0 + timedelta(minutes=10))
    anchors = [("churn", AnchorSpec(every="1h", connector="audit_copy"))]
    servers = [HeadExporter(store, anchors, actor=f"worker:{n}", clock=clock) for n in (1, 2)]
    with caplog.at_level(logging.INFO, logger="doorstep.audit"):
        made = [server.tick() for server in servers]
        assert [server.tick() for server in servers] == [[], []]  # nothing due until the next
    head = made[0][0][1:]
    assert made == [[("churn", 1, head[1])], []]
    assert caplog.text.count("audit head seq=1") == 1
    (delivery,) = store.list_deliveries(DeliveryQuery(app="churn")).items
    assert (delivery.connector, delivery.state, delivery.key) == (
        "audit_copy",
        "pending",
        anchor_key("churn", T0),
    )
    clock.now += timedelta(hours=1)
    assert [server.tick() for server in servers] == [[("churn", 2, _hash(store, 2))], []]
    assert len(store.list_deliveries(DeliveryQuery(app="churn")).items) == 2
    store.create_key("bi", "viewer", actor="admin")  # later appends
    report = verify_audit(store, Anchor(*head))
    assert report.ok and report.events == 4
    with store.engine.connect() as conn:
        kinds = conn.execute(sa.select(audit_events.c.kind).order_by(audit_events.c.seq))
        assert list(kinds.scalars()) == [
            "key.created",
            "audit.anchored",
            "audit.anchored",
            "key.created",
        ]


def test_without_a_connector_the_head_is_logged_only(
    store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    store.create_key("crm", "client", actor="admin")
    exporter = HeadExporter(
        store, [("churn", AnchorSpec(every="15m"))], actor="t", clock=lambda: T0
    )
    with caplog.at_level(logging.INFO, logger="doorstep.audit"):
        assert exporter.tick() == [("churn", 1, _hash(store, 1))]
    assert (
        f"audit head seq=1 hash={_hash(store, 1)} app=churn" in caplog.text
        and "to=log" in caplog.text
    )
    assert store.list_deliveries(DeliveryQuery()).items == []
    assert store.verify_audit().ok


def test_serve_and_worker_dispatchers_export_the_head_to_its_connector(
    store: Store, tmp_path: Path
) -> None:
    store.create_key("crm", "client", actor="admin")
    app = open_app_connectors(SpecFile(parse_spec(SPEC, env={}), tmp_path))
    stop = threading.Event()
    with Dispatcher(store, [app], poll_interval=0.02, max_idle=0.05) as dispatcher:
        thread = threading.Thread(target=dispatcher.run_forever, args=(stop,))
        thread.start()
        try:
            deadline = time.monotonic() + 20
            while not (tmp_path / "heads.jsonl").exists() and time.monotonic() < deadline:
                time.sleep(0.05)
        finally:
            stop.set()
            thread.join(timeout=20)
    (line,) = (tmp_path / "heads.jsonl").read_text().splitlines()
    exported = json.loads(line)
    assert (exported["kind"], exported["app"], exported["seq"]) == ("audit.head", "churn", 1)
    assert exported["check"] == f"doorstep audit verify --expect 1:{exported['hash']}"
    assert exported["_delivery"].startswith("audit-anchor:churn:")
    assert verify_audit(store, Anchor.parse(f"1:{exported['hash']}")).ok


@pytest.mark.parametrize(
    ("anchor", "message"),
    [
        ("{every: 1m}", "audit.anchor.every: the head is exported at most every 5 minutes"),
        ("{connector: audit_cpy}", "unknown connector 'audit_cpy' (did you mean 'audit_copy'?)"),
    ],
)
def test_the_anchor_setting_is_checked_with_the_spec(anchor: str, message: str) -> None:
    text = SPEC.replace("{every: 1h, connector: audit_copy}", anchor)
    with pytest.raises(SpecError, match=re.escape(message)):
        parse_spec(text, env={})


def _hash(store: Store, seq: int) -> str:
    found = store.audit_hash(seq)
    assert found is not None
    return found
