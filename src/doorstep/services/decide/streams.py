"""Stream consumers: messages of a bus decided as they arrive, through the one decision path.

One :meth:`StreamConsumer.step` takes a micro-batch of messages from the source (at most the
stream's ``batch``, so no more are ever in flight), makes each one a request of
:func:`~doorstep.services.decide.online.decide_requests` — the path of API requests, so the
contract, policy, explanations and the recording of decisions with their deliveries are the
same — and records them all in one transaction. Only after that commit are the messages
acknowledged on the bus.

Exactly one decision per message: each request carries the idempotency key
``(stream, message id)``. A message delivered again after its decisions were committed (the
consumer died between the commit and the acknowledgement) finds its key taken and is
acknowledged without a second decision or a second action (a *duplicate*).
The keys of a micro-batch are claimed in one statement and its decisions recorded under one
audit event (``one_event``), as a batch request's would be: a message is a request of its own
only for its key, not for the store's round trips.

A message that breaks the contract (or is no JSON object) is kept as a reject (source
``stream``), published to the stream's dead-letter destination with its errors, and acknowledged.

When the store (or a feature source) is unavailable nothing is acknowledged: the consumer keeps
the batch, waits (doubling the pause up to ``max_pause``) and tries the same messages again.
"""

from __future__ import annotations

import hashlib
import logging
import os
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

import orjson

from doorstep.core.spec.streams import StreamSpec
from doorstep.errors import DoorstepError, IdempotencyConflictError, StreamUnavailableError
from doorstep.services.apps.loading import LoadedApp
from doorstep.services.decide.features import FeatureLookup
from doorstep.services.decide.online import OnlineRequest, OnlineResponse, decide_requests
from doorstep.store.protocols import DecisionStore, StreamStore
from doorstep.store.streams import ConsumerReport, StreamSummary
from doorstep.streams.base import StreamMessage, StreamSource, dead_letter_body

__all__ = [
    "ConsumerStore",
    "StepResult",
    "StreamConsumer",
    "StreamObserver",
    "consumer_name",
    "list_streams",
]

log = logging.getLogger("doorstep.streams")

REPORT_EVERY = 2.0
"""Seconds between a consumer's reports to the store (``doorstep streams list``)."""


class ConsumerStore(DecisionStore, StreamStore, Protocol):
    """The store a consumer needs: decisions recorded, its counters reported."""


def consumer_name() -> str:
    """This process, as a consumer row names it: ``host:pid``."""
    return f"{socket.gethostname()}:{os.getpid()}"


@dataclass
class StepResult:
    """What one micro-batch did."""

    received: int = 0
    decided: int = 0
    duplicates: int = 0
    rejected: int = 0
    dead_letters: int = 0
    failed: str | None = None
    """Why nothing was acknowledged (the store or the bus unavailable): retried."""


class StreamObserver(Protocol):
    """What a consumer tells as it goes (a server's Prometheus metrics, its dispatcher's wake-up);
    called from the consumer's thread, after the fact: what it raises is logged and ignored."""

    def batch(self, app: str, stream: str, result: StepResult, seconds: float) -> None:
        """A micro-batch decided, committed and acknowledged in ``seconds`` (from the end of
        the fetch to the end of the acknowledgement)."""

    def failed(self, app: str, stream: str) -> None:
        """An attempt failed (the store or the bus unavailable): the batch is tried again."""

    def lag(self, app: str, stream: str, lag: int | None) -> None:
        """The lag the bus last told (``None``: it cannot tell)."""


@dataclass
class _Counters:
    received: int = 0
    decided: int = 0
    duplicates: int = 0
    rejected: int = 0
    dead_letters: int = 0
    errors: int = 0
    last_error: str | None = None
    last_error_at: datetime | None = None
    window: list[tuple[float, int]] = field(default_factory=list)


class StreamConsumer:
    """Decides one stream of one app; :meth:`run` until stopped, or :meth:`step` by step."""

    def __init__(
        self,
        app: LoadedApp,
        store: ConsumerStore,
        name: str,
        spec: StreamSpec,
        source: StreamSource,
        *,
        features: FeatureLookup | None = None,
        pause: float = 0.5,
        max_pause: float = 10.0,
        sleep: Callable[[float], Any] = time.sleep,
    ) -> None:
        self.app, self.store, self.name, self.spec = app, store, name, spec
        self.source, self.features = source, features
        self.pause, self.max_pause, self._sleep = pause, max_pause, sleep
        self.consumer = consumer_name()
        self.counters = _Counters()
        self._held: list[StreamMessage] = []
        self._failures = 0
        self._started = datetime.now(UTC)
        self._reported = 0.0
        self.after_commit: Callable[[list[StreamMessage]], None] | None = None
        """Called between the commit and the acknowledgement (tests simulate a crash there)."""
        self.observer: StreamObserver | None = None
        """Told of every batch, failure and lag (see :class:`StreamObserver`)."""

    # the loop

    def run(self, stop: threading.Event) -> None:
        """Decide micro-batches until ``stop`` is set; the batch in hand is finished (committed
        and acknowledged) first, unless the store or bus is down (then it is left to the bus to
        deliver again)."""
        try:
            while not stop.is_set():
                result = self.step()
                if result.failed is not None:
                    stop.wait(self._backoff())
                else:
                    self._failures = 0
                self.report()
        finally:
            self.report(force=True)

    def _backoff(self) -> float:
        self._failures += 1
        return float(min(self.max_pause, self.pause * 2.0 ** min(self._failures - 1, 16)))

    def step(self) -> StepResult:
        """Fetch (or keep) a micro-batch, decide, commit, then acknowledge it."""
        result = StepResult()
        started = time.perf_counter()
        try:
            if not self._held:
                self._held = self.source.fetch(self.spec.batch, self.spec.wait)
                self.counters.received += len(self._held)
            held = self._held
            result.received = len(held)
            if not held:
                return result
            started = time.perf_counter()
            requests = [self._request(m) for m in held]
            outcomes, _ = decide_requests(
                self.app, self.store, requests, features=self.features, one_event=True
            )
            for outcome in outcomes:  # a feature source down: retry the batch (what was
                if isinstance(outcome, DoorstepError) and _retryable(outcome):  # recorded
                    raise outcome  # of it is then a duplicate, not decided again)
            if self.after_commit is not None:
                self.after_commit(held)
            for message, outcome in zip(held, outcomes, strict=True):
                self._settle(message, outcome, result)
            self.source.ack(held)
        except (DoorstepError, StreamUnavailableError) as error:
            if not _retryable(error):
                raise
            result.failed = str(error)
            self._failed(result.failed)
            return result
        self._held = []
        self.counters.decided += result.decided
        self.counters.duplicates += result.duplicates
        self.counters.rejected += result.rejected
        self.counters.dead_letters += result.dead_letters
        self.counters.window.append((time.monotonic(), len(held)))
        self._tell("batch", result, time.perf_counter() - started)
        return result

    def _tell(self, event: str, *args: Any) -> None:
        if self.observer is None:
            return
        try:
            getattr(self.observer, event)(self.app.name, self.name, *args)
        except Exception:  # an observer never stops the stream
            log.exception("stream %r: observer failed", self.name)

    def _request(self, message: StreamMessage) -> OnlineRequest:
        record: Any
        try:
            record = orjson.loads(message.body)
        except orjson.JSONDecodeError:
            record = message.body.decode(errors="replace")
        spec, id_field = self.spec, self.app.spec.inputs.id
        ident = message.message_id
        if isinstance(record, dict):
            if spec.id is not None and spec.id != id_field and spec.id in record:
                record[id_field] = record.pop(spec.id)
            if spec.dedupe != "message_id" and record.get(spec.dedupe) is not None:
                ident = str(record[spec.dedupe])
        lineage = {
            "stream": {
                "name": self.name,
                "source": self.source.kind,
                "partition": message.partition,
                "sequence": message.sequence,
                "message_id": ident,
            }
        }
        return OnlineRequest(
            records=[record],
            single=False,
            actor=f"stream:{self.name}",
            explain=spec.explain,
            idempotency_key=ident,
            key_owner=f"stream:{self.name}",
            body_sha256=hashlib.sha256(message.body).hexdigest(),
            lineage=lineage,
            source="stream",
            record_name=f"stream:{self.name}:{ident}"[:110],
        )

    def _settle(
        self, message: StreamMessage, outcome: OnlineResponse | DoorstepError, result: StepResult
    ) -> None:
        if isinstance(outcome, IdempotencyConflictError):
            # the same dedupe id with another body: decided once, under its first body
            result.duplicates += 1
            log.warning("stream %r: message %s: %s", self.name, message.message_id, outcome)
            return
        if isinstance(outcome, DoorstepError):  # not retried, not decided: a dead letter
            errors: list[dict[str, Any]] = [{"rule": outcome.code, "message": str(outcome)}]
            self._dead_letter(message, errors, result)
            return
        answer = orjson.loads(outcome.body)
        if outcome.replayed:
            result.duplicates += 1
        else:
            result.decided += len(answer["decisions"])
        if answer["errors"] and not answer["decisions"]:
            result.rejected += 0 if outcome.replayed else 1
            self._dead_letter(message, answer["errors"], result)

    def _dead_letter(
        self, message: StreamMessage, errors: list[dict[str, Any]], result: StepResult
    ) -> None:
        if self.spec.dead_letter is None:
            return
        self.source.dead_letter(message, dead_letter_body(self.name, message, errors))
        result.dead_letters += 1

    def _failed(self, message: str) -> None:
        self.counters.errors += 1
        self.counters.last_error = message[:2000]
        self.counters.last_error_at = datetime.now(UTC)
        log.warning("stream %r paused: %s", self.name, message)
        self._tell("failed")

    # reports

    def rate(self, now: float | None = None) -> float:
        """Messages/s over the last 10 seconds."""
        now = time.monotonic() if now is None else now
        window = [(t, n) for t, n in self.counters.window if now - t <= 10.0]
        self.counters.window = window
        return sum(n for _, n in window) / 10.0

    def report(self, *, force: bool = False) -> None:
        """Write the counters to the store (every :data:`REPORT_EVERY` seconds, or now)."""
        now = time.monotonic()
        if not force and now - self._reported < REPORT_EVERY:
            return
        self._reported = now
        c = self.counters
        try:
            lag = self.source.lag()
        except StreamUnavailableError:
            lag = None
        self._tell("lag", lag)
        try:
            self.store.report_stream_consumer(
                ConsumerReport(
                    app=self.app.name,
                    stream=self.name,
                    consumer=self.consumer,
                    source=self.source.kind,
                    started_at=self._started,
                    updated_at=datetime.now(UTC),
                    received=c.received,
                    decided=c.decided,
                    duplicates=c.duplicates,
                    rejected=c.rejected,
                    dead_letters=c.dead_letters,
                    errors=c.errors,
                    lag=lag,
                    rate=self.rate(now),
                    last_error=c.last_error,
                    last_error_at=c.last_error_at,
                )
            )
        except DoorstepError as error:  # the store down: the next report says it all
            log.warning("stream %r: report not written: %s", self.name, error)


def _retryable(error: DoorstepError) -> bool:
    """Errors that leave the batch to be tried again: the store, a feature source, the bus."""
    from doorstep.errors import FeatureSourceUnavailableError, StoreUnavailableError

    return isinstance(
        error, StoreUnavailableError | FeatureSourceUnavailableError | StreamUnavailableError
    )


def list_streams(store: StreamStore) -> list[StreamSummary]:
    """Every stream consumers reported on, per app and stream (``doorstep streams list``)."""
    return store.list_streams()
