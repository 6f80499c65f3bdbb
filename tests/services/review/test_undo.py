"""A verdict's action waits for its undo window: a real dispatcher sending to a real HTTP
receiver sends nothing while the verdict can be undone, nothing after an undo, and the
action once the window of a verdict that stands has closed; on SQLite and PostgreSQL."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
from tests.connectors.receivers import Receiver
from tests.store.factories import decision

from doorstep.errors import ReviewConflictError
from doorstep.services.apps.loading import load_app
from doorstep.services.apps.registry import Registry
from doorstep.services.deliver.actions import deliveries_for, delivery_key
from doorstep.services.deliver.connectors import open_app_connectors
from doorstep.services.deliver.dispatcher import Dispatcher
from doorstep.services.review.verdicts import given_verdict, review_decision, undo_verdict
from doorstep.store import RecordRequest, Store

WINDOW = 1.5
"""Seconds of the undo window here: long enough to undo, short enough to wait out."""

URL = "${CRM_WEBHOOK_URL:-http://127.0.0.1:9000/hooks/doorstep}"


@pytest.mark.slow
def test_the_worker_never_sends_a_verdicts_action_before_its_window_closes(
    churn_app: Path, store: Store
) -> None:
    with Receiver() as receiver:
        spec = churn_app / "doorstep.yaml"
        text = spec.read_text()
        assert URL in text and "review_undo_seconds: 15 " in text
        text = text.replace(URL, receiver.url("/hooks/doorstep"))
        spec.write_text(text.replace("review_undo_seconds: 15 ", f"review_undo_seconds: {WINDOW} "))
        app = load_app(spec)
        registry = Registry({app.name: app})
        case = decision(1, status="pending_review")
        store.record([RecordRequest([case], deliveries=deliveries_for(app, [case]))], actor="t")
        with Dispatcher(store, [open_app_connectors(app)]) as worker:
            review_decision(registry, store, case.id, verdict="approve", reason="ok", actor="a")
            given = given_verdict(registry, store, case.id, now=datetime.now(UTC))
            assert given is not None and given.undo_until is not None
            assert given.done == "approved"
            assert worker.drain() == []  # held: the verdict can still be undone
            undone = undo_verdict(store, case.id, actor="key:bo")
            assert undone.status == "pending_review"
            time.sleep(WINDOW + 0.2)
            assert worker.drain() == []  # held again for review: not sent, even after the window
            assert receiver.requests == []
            review_decision(registry, store, case.id, verdict="approve", reason="ok", actor="a")
            assert worker.drain() == []
            time.sleep(WINDOW + 0.2)
            with pytest.raises(ReviewConflictError, match="undo window closed"):
                undo_verdict(store, case.id, actor="a")
            closed = given_verdict(registry, store, case.id, now=datetime.now(UTC))
            assert closed is not None and closed.undo_until is None
            (report,) = worker.drain()
        assert report.state == "delivered"
        (request,) = receiver.requests
    assert request.headers["webhook-id"] == delivery_key(case.id, "retention_offer")
    kinds = [e.kind for e in store.decision_audit(case.id)]
    assert kinds.count("review.recorded") == 2 and kinds.count("review.undone") == 1
    assert store.verify_audit().ok
