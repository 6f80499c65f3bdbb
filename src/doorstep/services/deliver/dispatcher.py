"""The dispatcher: takes due deliveries from the outbox and sends them through their connectors.

Each round claims at most as many deliveries as there are free sending threads (so no claimed
delivery waits in a queue while its lease runs), renders each action's payload template with
its decision, sends it, and records the attempt:

- ``delivered``: done;
- ``retry``: due again after the connector's ``retry.delays[attempts - 1]`` seconds, with
  jitter, or after the target's ``Retry-After`` when that is later; ``dead`` after the last;
- ``failed`` (and a payload template that does not render): ``dead`` at once;
- ``gone`` (HTTP 410): ``dead``, and the connector is disabled until ``doorstep deliveries
  enable``; deliveries to it stay ``pending`` meanwhile.

A connector that raises counts as ``retry``; its message is kept with every environment secret
of the spec replaced by ``***``. Leases are not renewed: every attempt gets a
:class:`~doorstep.connectors.deadline.Deadline` at :data:`ATTEMPT_SHARE` of its lease, by which
the connector gives up (a target that answers a byte at a time cannot keep it past its lease),
so a live worker finishes in time; a dispatcher never claims again a delivery it is still
sending. A worker that dies leaves its deliveries to be taken over when the lease expires —
they are sent again with the same key (at least once). Stopping (:meth:`Dispatcher.run_forever`)
lets the sends in flight finish for :data:`STOP_GRACE` seconds, then cancels their deadlines:
each ends at once with ``retry`` and is recorded. Any number of dispatchers, threads or
processes, may share one store. While it runs, the dispatcher also exports the audit chain's
head for the apps whose spec asks for it (``audit.anchor``;
:mod:`doorstep.services.governance.anchor`).
"""

from __future__ import annotations

import json
import logging
import math
import os
import random
import re
import secrets
import socket
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol, TypeVar

from doorstep.connectors.base import Connector, Message, Redactor, SendResult
from doorstep.connectors.deadline import Deadline
from doorstep.connectors.templates import TemplateRenderError, render_payload
from doorstep.core.spec.models import RetrySpec
from doorstep.errors import DoorstepError, StoreUnavailableError
from doorstep.services.deliver.actions import delivery_context
from doorstep.services.deliver.connectors import AppConnectors
from doorstep.services.governance.anchor import HeadExporter
from doorstep.store.canonical import iso
from doorstep.store.protocols import (
    AttemptResult,
    AuditStore,
    ClaimedDelivery,
    DeliveryAdminStore,
    FinishRequest,
    OutboxStore,
)
from doorstep.types import DeliveryState

__all__ = [
    "ATTEMPT_SHARE",
    "RETRY_AFTER_CAP",
    "STOP_GRACE",
    "AttemptReport",
    "DispatchStore",
    "Dispatcher",
    "default_lease",
    "next_attempt_at",
]


class DispatchStore(OutboxStore, DeliveryAdminStore, AuditStore, Protocol):
    """What the dispatcher uses: the outbox's claims and finishes, disabling a connector its
    target answered 410 Gone, and exporting the audit chain's head (``audit.anchor``)."""


logger = logging.getLogger("doorstep.deliveries")

RETRY_AFTER_CAP = 86_400.0
"""A target's ``Retry-After`` is honoured up to one day."""
MIN_LEASE = 120.0
ATTEMPT_SHARE = 0.75
"""An attempt must be over when this share of its lease has passed (its deadline); the rest
is for recording the result while the lease still holds."""
STOP_GRACE = 5.0
"""Seconds a stopping dispatcher lets the sends in flight finish before cutting them short."""
_OUTCOMES = frozenset({"delivered", "retry", "failed", "gone"})
_FINISH_BACKOFF = (0.2, 0.5, 1.0, 2.0)
_DEFAULT_RETRY = RetrySpec()
_T = TypeVar("_T")
_NEEDS_QUOTES = re.compile(r'[\s"=]')
"""A logged value with a space, quote or equals sign is written as a JSON string."""


def next_attempt_at(
    attempts: int,
    retry: RetrySpec,
    now: datetime,
    *,
    retry_after: float | None = None,
    rng: random.Random | None = None,
) -> datetime | None:
    """When to try again after the ``attempts``-th attempt of a cycle failed with ``retry``;
    ``None`` when the schedule is used up (the delivery is ``dead``)."""
    if attempts < 1 or attempts > len(retry.delays):
        return None
    delay = retry.delays[attempts - 1]
    low, high = delay * (1 - retry.jitter), delay * (1 + retry.jitter)
    wait_for = (rng or random).uniform(low, high)
    if retry_after is not None and retry_after > 0:
        wait_for = max(wait_for, min(retry_after, RETRY_AFTER_CAP))
    return now + timedelta(seconds=wait_for)


def default_lease(apps: Sequence[AppConnectors]) -> float:
    """Seconds a claim lasts: three times the longest connector ``timeout``, at least 2 min."""
    return max(MIN_LEASE, 3 * _longest_timeout(apps))


def _longest_timeout(apps: Sequence[AppConnectors]) -> float:
    timeouts = [
        float(getattr(spec, "timeout", 0) or 0)
        for app in apps
        for spec in app.spec.connectors.values()
    ]
    return max(timeouts, default=0.0)


@dataclass(frozen=True)
class AttemptReport:
    """What one attempt did (also logged)."""

    delivery_id: str
    key: str
    app: str
    action: str
    connector: str
    attempt: int
    outcome: str
    state: DeliveryState
    """``delivered``, ``pending`` (a retry is scheduled) or ``dead``."""
    status: int | None
    detail: str
    next_attempt_at: datetime | None
    applied: bool
    """False when the lease had expired: the result was logged, the delivery left to others."""


class Dispatcher:
    """Sends due deliveries of ``apps`` through their connectors (see the module docstring).

    ``clock`` and ``rng`` are for tests; ``public_url`` fills the templates' ``decision_url``;
    ``stop_grace`` is how long :meth:`run_forever` lets sends in flight finish once stopped.
    ``on_attempt`` is called after every attempt with its report and the seconds the
    connector's ``send`` took (0 when nothing was sent, e.g. a template that does not render),
    from the sending thread; what it raises is logged and ignored.
    """

    def __init__(
        self,
        store: DispatchStore,
        apps: Sequence[AppConnectors],
        *,
        worker: str | None = None,
        concurrency: int = 8,
        lease_seconds: float | None = None,
        poll_interval: float = 0.5,
        max_idle: float = 5.0,
        claim_interval: float = 0.05,
        public_url: str | None = None,
        clock: Callable[[], datetime] | None = None,
        rng: random.Random | None = None,
        on_attempt: Callable[[AttemptReport, float], None] | None = None,
        stop_grace: float = STOP_GRACE,
    ) -> None:
        if concurrency < 1:
            raise ValueError(f"concurrency must be at least 1; got {concurrency}")
        self.store = store
        self.apps: Mapping[str, AppConnectors] = {app.name: app for app in apps}
        self._redactors = {app.name: Redactor(app.secrets) for app in apps}
        self.worker = worker or f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(2)}"
        self.concurrency = concurrency
        self.claim_batch = max(1, concurrency // 4)
        timeout = _longest_timeout(apps)
        if lease_seconds is not None and (lease_seconds <= 0 or lease_seconds < 2 * timeout):
            raise ValueError(
                f"lease_seconds ({lease_seconds}) must be more than 0 and at least twice the "
                f"longest connector timeout ({timeout:g} s): a lease that ends before a send "
                "does lets another worker send the same delivery again"
            )
        self.lease_seconds = lease_seconds or default_lease(apps)
        self.poll_interval = poll_interval
        self.claim_interval = claim_interval
        self.max_idle = max(max_idle, poll_interval)
        self.public_url = public_url
        self.clock = clock or (lambda: datetime.now(UTC))
        self.rng = rng or random.Random()
        self.on_attempt = on_attempt
        self.stop_grace = stop_grace
        self._pool = ThreadPoolExecutor(concurrency, thread_name_prefix="doorstep-delivery")
        self._finishes = _GroupFinish(store, self.clock)
        self._wakeup = threading.Event()
        self._sending: dict[str, Deadline | None] = {}
        """Deliveries claimed and not yet finished, with their attempt's deadline once their
        send started: never claimed again by this dispatcher while here."""
        self._sending_lock = threading.Lock()
        anchors = [(a.name, a.spec.audit.anchor) for a in apps if a.spec.audit.anchor is not None]
        self._anchors = None
        if anchors:
            self._anchors = HeadExporter(
                store, anchors, actor=f"worker:{self.worker}", clock=self.clock
            )

    # running

    def run_once(self) -> list[AttemptReport]:
        """Claim up to ``concurrency`` due deliveries, send them, and return what happened."""
        claimed = self._claim(self.concurrency)
        futures = [self._pool.submit(self._process, c) for c in claimed]
        return [r for r in (f.result() for f in futures) if r is not None]

    def drain(self) -> list[AttemptReport]:
        """Run rounds until nothing is due (retries scheduled for later stay pending)."""
        reports: list[AttemptReport] = []
        while True:
            round_ = self.run_once()
            if not round_:
                return reports
            reports += round_

    def run_forever(self, stop: threading.Event) -> None:
        """Keep sending until ``stop`` is set, then finish the deliveries in flight. Polls every
        ``poll_interval`` seconds while there is work, backing off to ``max_idle`` when idle;
        :meth:`wake` ends a wait early. Once a claim has found the outbox drained, the next one
        waits ``claim_interval``, so that a steady trickle of new deliveries is claimed in
        groups rather than one transaction each; while more is due than threads are free, the
        next claim waits until ``claim_batch`` threads (a quarter) are free, for the same reason.
        A store outage is logged and waited out."""
        in_flight: set[Future[AttemptReport | None]] = set()
        idle = self.poll_interval
        drained_at = -math.inf
        backlog = False  # the last claim got all it asked for: more may be due
        logger.info("worker started worker=%s apps=%s", self.worker, ",".join(self.apps))
        try:
            while not stop.is_set():
                self._export_head()
                in_flight = {f for f in in_flight if not f.done()}
                free = self.concurrency - len(in_flight)
                early = self.claim_interval - (time.monotonic() - drained_at)
                claimed: list[ClaimedDelivery] = []
                if free >= (self.claim_batch if backlog else 1) and early <= 0:
                    try:
                        claimed = self._claim(free)
                    except DoorstepError as exc:
                        level = logging.WARNING
                        if not isinstance(exc, StoreUnavailableError):
                            level = logging.ERROR
                        logger.log(level, "claim failed worker=%s detail=%s", self.worker, exc)
                        self._pause(stop, idle)
                        idle = min(idle * 2, self.max_idle)
                        continue
                    backlog = len(claimed) == free
                    if not backlog:
                        drained_at = time.monotonic()
                in_flight |= {self._pool.submit(self._process, c) for c in claimed}
                if claimed:
                    idle = self.poll_interval
                    if backlog:
                        continue  # maybe more is due: claim again as threads free up
                if early > 0:
                    stop.wait(early)
                elif in_flight:
                    wait(in_flight, timeout=self.poll_interval, return_when=FIRST_COMPLETED)
                else:
                    self._pause(stop, idle)
                    idle = min(idle * 2, self.max_idle)
        finally:
            self._stop_sending(in_flight)
            logger.info("worker stopped worker=%s", self.worker)

    def _export_head(self) -> None:
        """Export the audit chain's head for the apps with ``audit.anchor``, when a slot is
        due (see :mod:`doorstep.services.governance.anchor`); a failure is logged and tried
        again at the next loop."""
        if self._anchors is None:
            return
        try:
            self._anchors.tick()
        except Exception as exc:
            level = logging.WARNING if isinstance(exc, StoreUnavailableError) else logging.ERROR
            logger.log(
                level, "exporting the audit head failed worker=%s detail=%s", self.worker, exc
            )

    def _stop_sending(self, in_flight: set[Future[AttemptReport | None]]) -> None:
        """Let the sends in flight finish for ``stop_grace`` seconds, then cancel their
        deadlines (connectors give up at once) and wait for them to be recorded."""
        if in_flight and wait(in_flight, timeout=self.stop_grace).not_done:
            with self._sending_lock:
                live = [d for d in self._sending.values() if d is not None]
            logger.warning(
                "cutting %d sends short worker=%s (still running %g s after the stop)",
                len(live),
                self.worker,
                self.stop_grace,
            )
            for deadline in live:
                deadline.cancel()
        wait(in_flight)

    def wake(self) -> None:
        """Look for due deliveries now (e.g. right after decisions were recorded)."""
        self._wakeup.set()

    def close(self) -> None:
        """Stop the sending threads (after the current sends) and close the connectors."""
        self._pool.shutdown(wait=True)
        for app in self.apps.values():
            app.close()

    def __enter__(self) -> Dispatcher:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def _pause(self, stop: threading.Event, seconds: float) -> None:
        """Wait ``seconds``, or until :meth:`wake` (at once) or ``stop`` (within 0.1 s)."""
        deadline = time.monotonic() + seconds
        while not stop.is_set():
            left = deadline - time.monotonic()
            if left <= 0 or self._wakeup.wait(min(left, 0.1)):
                break
        self._wakeup.clear()

    def _claim(self, limit: int) -> list[ClaimedDelivery]:
        """Claim up to ``limit`` deliveries, writing the attempt ends queued by then in the
        same transaction (one commit for both); never one this dispatcher is still sending."""

        def finish_and_claim(
            finished: list[FinishRequest],
        ) -> tuple[list[bool], list[ClaimedDelivery]]:
            with self._sending_lock:
                busy = list(self._sending)
            applied, claimed = self.store.finish_and_claim_deliveries(
                finished,
                self.worker,
                limit,
                self.lease_seconds,
                apps=list(self.apps),
                now=self.clock(),
                exclude=busy,
            )
            with self._sending_lock:
                self._sending.update((c.id, None) for c in claimed)
            return applied, claimed

        return self._finishes.claim(finish_and_claim)

    # one attempt

    def _process(self, claimed: ClaimedDelivery) -> AttemptReport | None:
        try:
            return self._attempt(claimed, self._deadline(claimed))
        except Exception:  # never lose the thread; the lease expiring re-sends it later
            logger.exception(
                "delivery attempt crashed id=%s key=%s worker=%s",
                claimed.id,
                claimed.key,
                self.worker,
            )
            return None
        finally:
            with self._sending_lock:
                self._sending.pop(claimed.id, None)

    def _deadline(self, claimed: ClaimedDelivery) -> Deadline:
        """The attempt's deadline: :data:`ATTEMPT_SHARE` of the lease after its claim."""
        left = (claimed.lease_expires_at - self.clock()).total_seconds()
        deadline = Deadline(max(0.0, left - self.lease_seconds * (1 - ATTEMPT_SHARE)))
        with self._sending_lock:
            self._sending[claimed.id] = deadline
        return deadline

    def _attempt(self, claimed: ClaimedDelivery, deadline: Deadline) -> AttemptReport:
        app = self.apps[claimed.app]
        sent, seconds = self._send(app, claimed, deadline)
        detail = self._redactors[claimed.app](sent.detail or "")
        now = self.clock()
        state: DeliveryState = "dead"
        due = None
        if sent.outcome == "delivered":
            state = "delivered"
        elif sent.outcome == "retry":
            retry = _retry_spec(app, claimed.connector)
            due = next_attempt_at(
                claimed.attempts, retry, now, retry_after=sent.retry_after, rng=self.rng
            )
            if due is not None:
                state = "pending"
            else:
                detail = f"{detail} (gave up after {claimed.attempts} attempts)".strip()
        result = AttemptResult(sent.outcome, detail, sent.status)
        applied = self._finish(claimed, result, due, state)
        if sent.outcome == "gone":
            self.store.disable_connector(
                claimed.app,
                claimed.connector,
                f"the target answered 'gone' ({detail}); deliveries wait until "
                f"`doorstep deliveries enable {claimed.app} {claimed.connector}`",
                actor=f"worker:{self.worker}",
            )
        report = AttemptReport(
            claimed.id,
            claimed.key,
            claimed.app,
            claimed.action,
            claimed.connector,
            claimed.number,
            sent.outcome,
            state,
            sent.status,
            detail,
            due,
            applied,
        )
        _log(report, self.worker)
        if self.on_attempt is not None:
            try:
                self.on_attempt(report, seconds)
            except Exception:
                logger.exception(
                    "the on_attempt hook failed id=%s key=%s", report.delivery_id, report.key
                )
        return report

    def _send(
        self, app: AppConnectors, claimed: ClaimedDelivery, deadline: Deadline
    ) -> tuple[SendResult, float]:
        """The connector's result and the seconds its ``send`` took (0 when not sent)."""
        connector = app.connectors.get(claimed.connector)
        action = None if claimed.decision is None else app.spec.actions.get(claimed.action)
        if connector is None or (action is None and claimed.decision is not None):
            what = "connector" if connector is None else "action"
            name = claimed.connector if connector is None else claimed.action
            return SendResult(
                "failed",
                f"the {what} {name!r} is no longer in the spec of app {claimed.app!r}; add it "
                "back and retry the delivery, or cancel it",
            ), 0.0
        retry = _retry_spec(app, claimed.connector)
        if claimed.attempts > len(retry.delays) + 1:  # only leases that expired get here
            return SendResult(
                "failed",
                f"{claimed.attempts - 1} attempts ended without a result (their workers "
                "stopped before finishing); not sent again",
            ), 0.0
        if deadline.expired:  # the claim waited for a thread until its lease was nearly over
            return SendResult(
                "retry", "not sent: its lease was nearly over when a thread came free"
            ), 0.0
        if claimed.decision is None or action is None:
            return self._send_message(connector, claimed, deadline)
        context = delivery_context(
            app.spec, claimed.decision, claimed.action, public_url=self.public_url
        )
        try:
            payload = render_payload(
                action.payload, context, where=f"actions.{claimed.action}.payload"
            )
        except TemplateRenderError as exc:
            return SendResult("failed", f"the payload template does not render: {exc}"), 0.0
        delivery = Message(
            id=claimed.id,
            key=claimed.key,
            app=claimed.app,
            action=claimed.action,
            connector=claimed.connector,
            attempt=claimed.number,
            context=context,
            payload=payload,
            deadline=deadline,
        )
        return self._call(connector, delivery)

    def _send_message(
        self, connector: Connector, claimed: ClaimedDelivery, deadline: Deadline
    ) -> tuple[SendResult, float]:
        """A delivery with a ready message (an alert) instead of a decision's action."""
        message = claimed.message or {}
        delivery = Message(
            id=claimed.id,
            key=claimed.key,
            app=claimed.app,
            action=claimed.action,
            connector=claimed.connector,
            attempt=claimed.number,
            context=message.get("context") or {},
            payload=message.get("payload"),
            text=message.get("text"),
            deadline=deadline,
        )
        return self._call(connector, delivery)

    def _call(self, connector: Connector, delivery: Message) -> tuple[SendResult, float]:
        started = time.perf_counter()
        try:
            sent = connector.send(delivery)
        except Exception as exc:
            seconds = time.perf_counter() - started
            return SendResult("retry", f"the connector raised {type(exc).__name__}: {exc}"), seconds
        seconds = time.perf_counter() - started
        if getattr(sent, "outcome", None) not in _OUTCOMES:
            return SendResult(
                "retry", f"the connector returned {sent!r}, not a SendResult"
            ), seconds
        return sent, seconds

    def _finish(
        self,
        claimed: ClaimedDelivery,
        result: AttemptResult,
        due: datetime | None,
        state: DeliveryState,
    ) -> bool:
        request = FinishRequest(claimed.id, claimed.lease_token, result, due, state)
        for pause in (*_FINISH_BACKOFF, None):
            try:
                return self._finishes.finish(request)
            except StoreUnavailableError:
                if pause is None or self.clock() >= claimed.lease_expires_at:
                    raise
                time.sleep(pause)
        raise AssertionError("unreachable")  # pragma: no cover


class _GroupFinish:
    """Group commit of attempts' ends: a sending thread queues its finish, and whichever thread
    gets to write first writes everything queued by then in one transaction, either a sending
    thread or the claiming loop, whose claim carries the queued ends in its own transaction.
    Under load one commit serves many deliveries instead of each queueing for the store's
    writer."""

    def __init__(self, store: OutboxStore, clock: Callable[[], datetime]) -> None:
        self.store, self.clock = store, clock
        self._queued: list[_Slot] = []
        self._queue_lock = threading.Lock()
        self._writer = threading.Lock()

    def finish(self, request: FinishRequest) -> bool:
        slot = _Slot(request)
        with self._queue_lock:
            self._queued.append(slot)
        with self._writer:
            if not slot.done:
                try:
                    self._write_queued(self._finish_only)
                except Exception:
                    pass  # every slot of the batch, this one too, holds the error
        if slot.error is not None:
            raise slot.error
        return slot.applied

    def claim(self, write: Callable[[list[FinishRequest]], tuple[list[bool], _T]]) -> _T:
        """Run ``write`` (which records the ends it is given, then claims) as the writer."""
        with self._writer:
            return self._write_queued(write)

    def _finish_only(self, requests: list[FinishRequest]) -> tuple[list[bool], None]:
        return self.store.finish_deliveries(requests, now=self.clock()), None

    def _write_queued(self, write: Callable[[list[FinishRequest]], tuple[list[bool], _T]]) -> _T:
        with self._queue_lock:
            batch, self._queued = self._queued, []
        try:
            applied, out = write([s.request for s in batch])
        except Exception as exc:  # every waiter of this batch sees the failure
            for s in batch:
                s.error, s.done = exc, True
            raise
        for s, ok in zip(batch, applied, strict=True):
            s.applied, s.done = ok, True
        return out


@dataclass
class _Slot:
    request: FinishRequest
    done: bool = False
    applied: bool = False
    error: Exception | None = None


def _retry_spec(app: AppConnectors, connector: str) -> RetrySpec:
    """The connector's retry schedule (connectors without one in their spec use the default)."""
    return getattr(app.spec.connectors.get(connector), "retry", None) or _DEFAULT_RETRY


def _log(report: AttemptReport, worker: str) -> None:
    level = {"delivered": logging.INFO, "pending": logging.WARNING}.get(report.state, logging.ERROR)
    if not logger.isEnabledFor(level):
        return
    fields: dict[str, Any] = {
        "id": report.delivery_id,
        "key": report.key,
        "app": report.app,
        "action": report.action,
        "connector": report.connector,
        "attempt": report.attempt,
        "outcome": report.outcome,
        "state": report.state,
        "status": report.status,
        "next_attempt_at": iso(report.next_attempt_at) if report.next_attempt_at else None,
        "applied": report.applied,
        "worker": worker,
        "detail": report.detail,
    }
    text = " ".join(f"{k}={_value(v)}" for k, v in fields.items() if v is not None)
    logger.log(level, "delivery attempt %s", text, extra={"delivery": fields})


def _value(value: Any) -> str:
    text = str(value).lower() if isinstance(value, bool) else str(value)
    if not text or _NEEDS_QUOTES.search(text):
        return json.dumps(text, ensure_ascii=False)
    return text
