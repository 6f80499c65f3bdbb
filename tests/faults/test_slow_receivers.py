"""A receiver that answers one byte at a time, with real parts: the churn example's webhook
connector, an HTTP receiver that verifies Standard Webhooks signatures, a dispatcher in this
process and ``doorstep worker`` processes on SQLite.

Each read of the connector gets a byte well within its ``timeout``, so only the attempt's
deadline (a share of its lease) ends the send:

1. a live dispatcher gives up before the lease ends, records a retry, and never claims the
   delivery again while sending it: the receiver gets the ``webhook-id`` once;
2. SIGTERM of a worker in the middle of such a send: the worker exits within its stop grace,
   and the cut-short attempt is recorded (the delivery is pending again, not left ``sending``).
"""

from __future__ import annotations

import re
import threading
import time
from pathlib import Path

from tests.connectors.receivers import Receiver, Reply
from tests.faults.conftest import (
    HOOK,
    SECRET,
    Spawn,
    attempts_by_delivery,
    crm_env,
    delivery_states,
    record_deliveries,
    stop,
    tail,
    wait_until,
    with_crm,
)

from doorstep.services.deliver.connectors import read_app_connectors
from doorstep.services.deliver.dispatcher import ATTEMPT_SHARE, STOP_GRACE, Dispatcher
from doorstep.store import open_store

TRICKLE = 0.2
"""Seconds between the bytes of the receiver's answer."""
SLOW_OK = Reply(200, b'{"ok": true, "note": "' + b"." * 200 + b'"}', trickle=TRICKLE)
"""A 200 that takes about 50 s to arrive whole."""


def test_a_trickling_receiver_is_given_up_on_before_the_lease_ends_and_sent_once(
    churn_app: Path, tmp_path: Path
) -> None:
    lease = 2.0
    spec = with_crm(churn_app, timeout="1", retry="{delays: [30], jitter: 0}")
    with (
        Receiver(secrets=[SECRET]) as receiver,
        open_store(f"sqlite:///{tmp_path / 'd.db'}") as store,
    ):
        receiver.script(HOOK, SLOW_OK)
        env = crm_env(receiver.url(HOOK))
        (made,) = record_deliveries(store, spec, env, 1)
        apps = read_app_connectors([spec], env)
        stopping = threading.Event()
        with Dispatcher(
            store, apps, lease_seconds=lease, poll_interval=0.05, max_idle=0.1
        ) as dispatcher:
            thread = threading.Thread(target=dispatcher.run_forever, args=(stopping,))
            thread.start()
            try:
                wait_until(
                    lambda: delivery_states(store) == {made.key: "pending"},
                    10,
                    "the attempt given up and recorded",
                )
                time.sleep(2 * lease)  # time enough for its lease to have run out twice
            finally:
                stopping.set()
                thread.join(timeout=30)
            assert not thread.is_alive()
        history = attempts_by_delivery(store)[made.id]
        ids = receiver.webhook_ids(HOOK)
    assert ids == {made.key: 1}, "the same live worker sent it again"
    assert delivery_states(store) == {made.key: "pending"}
    (attempt,) = history
    took = (attempt.finished_at - attempt.started_at).total_seconds()
    assert lease * ATTEMPT_SHARE - 0.1 <= took < lease, took
    assert attempt.outcome == "retry" and attempt.worker == dispatcher.worker
    assert re.fullmatch(
        r"gave up after 1\.\d+ s while waiting for the response: an attempt ends before its "
        r"lease does",
        attempt.detail,
    ), attempt.detail


def test_sigterm_during_a_trickling_send_stops_the_worker_within_its_grace(
    churn_app: Path, tmp_path: Path, spawn: Spawn
) -> None:
    spec = with_crm(churn_app, timeout="2", retry="{delays: [30], jitter: 0}")
    url = f"sqlite:///{tmp_path / 'd.db'}"
    log = tmp_path / "worker.log"
    with Receiver(secrets=[SECRET]) as receiver, open_store(url) as store:
        receiver.script(HOOK, SLOW_OK)
        env = crm_env(receiver.url(HOOK))
        (made,) = record_deliveries(store, spec, env, 1)
        worker = spawn("worker", str(spec), "--db", url, "--poll", "0.1", env=env, log=log.name)
        wait_until(lambda: receiver.in_progress == 1, 60, "the send under way", log)
        time.sleep(1.0)  # the answer is trickling in
        asked = time.monotonic()
        stop(worker, log)  # SIGTERM; exit 0 required
        took = time.monotonic() - asked
        history = attempts_by_delivery(store)[made.id]
        states = delivery_states(store)
    assert took < STOP_GRACE + 4, f"the worker took {took:.1f} s to stop\n{tail(log)}"
    assert states == {made.key: "pending"}
    (attempt,) = history
    assert attempt.outcome == "retry"
    assert attempt.detail == "not finished: the worker stopped while waiting for the response"
    assert "cutting 1 sends short" in log.read_text()
