"""Stream consumers inside ``doorstep serve --consume``: one lease per stream, so that each
stream of the specs has exactly one consumer among the servers sharing the store, and the
streams spread over those servers.

Every server process (each of ``--workers``, each server on the store) runs one
:class:`StreamGroup`. On every tick (a third of the lease's term) it

1. renews its membership (a lease of its own, ``streams.member:GROUP:HOLDER``, where ``GROUP``
   names the set of streams its specs declare) and counts the live members of its group;
2. renews the lease of each stream it consumes (``streams:APP/STREAM``); a stream whose lease
   another server took, or that could not be renewed before the term was at risk (the store
   unreachable), is stopped after the micro-batch in hand;
3. gives back the streams beyond its fair share (the streams divided by the live members,
   rounded up) — finished, committed and acknowledged first — for a newcomer to take;
4. takes free streams up to its share.

A server that dies stops renewing: its member and stream leases expire (the term, 30 s by
default), and the others take its streams over; what it had not acknowledged is delivered again
by the bus and deduplicated. On shutdown every consumer finishes its micro-batch in hand
(committed and acknowledged) and the leases are released at once.

Servers whose specs declare different sets of streams form groups of their own: they never
count each other, so none leaves a stream of its own unconsumed for another that cannot take it.
"""

from __future__ import annotations

import hashlib
import logging
import math
import os
import socket
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field

from doorstep.errors import DoorstepError
from doorstep.runtime.consumers import open_consumer
from doorstep.runtime.threads import background
from doorstep.services.apps.loading import LoadedApp
from doorstep.services.decide.features import FeatureLookup
from doorstep.services.decide.streams import StepResult, StreamConsumer, StreamObserver
from doorstep.store.protocols import StoreContract

__all__ = ["LEASE_PREFIX", "MEMBER_PREFIX", "StreamGroup", "consuming", "lease_name"]

LEASE_PREFIX = "streams:"
MEMBER_PREFIX = "streams.member:"
log = logging.getLogger("doorstep.streams")


def lease_name(app: str, stream: str) -> str:
    """The store lease of one stream of one app."""
    return f"{LEASE_PREFIX}{app}/{stream}"[:200]


@dataclass
class _Running:
    consumer: StreamConsumer
    stop: threading.Event
    thread: threading.Thread
    renewed_at: float
    failed: list[BaseException] = field(default_factory=list)


class _Told:
    """The observer a group's consumers tell: the server's (metrics), and the dispatcher woken
    when a batch wrote decisions (their deliveries are due)."""

    def __init__(self, inner: StreamObserver | None, wake: Callable[[], None] | None) -> None:
        self.inner, self.wake = inner, wake

    def batch(self, app: str, stream: str, result: StepResult, seconds: float) -> None:
        if result.decided and self.wake is not None:
            self.wake()
        if self.inner is not None:
            self.inner.batch(app, stream, result, seconds)

    def failed(self, app: str, stream: str) -> None:
        if self.inner is not None:
            self.inner.failed(app, stream)

    def lag(self, app: str, stream: str, lag: int | None) -> None:
        if self.inner is not None:
            self.inner.lag(app, stream, lag)


class StreamGroup:
    """The streams of some apps, each consumed while this process holds its lease."""

    def __init__(
        self,
        apps: list[LoadedApp],
        store: StoreContract,
        *,
        lookups: Mapping[str, FeatureLookup] | None = None,
        lease_seconds: float = 30.0,
        holder: str | None = None,
        observer: StreamObserver | None = None,
        on_deliveries: Callable[[], None] | None = None,
    ) -> None:
        self.store, self.lookups = store, dict(lookups or {})
        self.lease_seconds = lease_seconds
        self.holder = holder or f"{socket.gethostname()}:{os.getpid()}:{id(self):x}"
        self.observer = _Told(observer, on_deliveries)
        self.streams = {
            lease_name(app.name, name): (app, name) for app in apps for name in app.spec.streams
        }
        fingerprint = hashlib.sha256("\n".join(sorted(self.streams)).encode()).hexdigest()[:12]
        self.member_prefix = f"{MEMBER_PREFIX}{fingerprint}:"
        self.running: dict[str, _Running] = {}
        self._lock = threading.Lock()
        self.consuming = threading.Event()
        """Set while at least one of this process's consumers runs (tests wait on it)."""

    # what tests and operators read

    def held(self) -> set[str]:
        """The streams this process consumes now, as ``app/stream``."""
        with self._lock:
            return {name.removeprefix(LEASE_PREFIX) for name in self.running}

    # the loop

    def run_forever(self, stop: threading.Event) -> None:
        """Take, renew, hand back and give up streams every tick until ``stop`` is set; then
        finish every batch in hand and release the leases."""
        tick = self.lease_seconds / 3.0
        try:
            while not stop.is_set():
                try:
                    self.tick()
                except Exception:  # never let the loop die: the next tick tries again
                    log.exception("streams: tick failed")
                stop.wait(tick)
        finally:
            self._stop(list(self.running))
            self._release(self.member_prefix + self.holder)

    def tick(self) -> None:
        """One round: membership, renewals, the fair share handed back or taken."""
        members = self._members()
        for name in list(self.running):
            running = self.running[name]
            if not running.thread.is_alive():
                log.error("stream %s stopped: %s", name, running.failed or "no reason")
                self._stop([name])
            elif not self._renew(name, running):
                self._stop([name])
        share = math.ceil(len(self.streams) / max(members, 1))
        extra = list(self.running)[share:]
        if extra:
            log.info("streams: handing %s back (fair share %d)", ", ".join(extra), share)
            self._stop(extra)
        for name in self._order():
            if len(self.running) >= share:
                break
            if name not in self.running and self._acquire(name):
                self._start(name)

    def _members(self) -> int:
        """Renew this process's membership; the live members of its group (at least 1)."""
        try:
            self.store.acquire_lease(
                self.member_prefix + self.holder, self.holder, self.lease_seconds
            )
            return max(1, len(self.store.lease_holders(self.member_prefix)))
        except DoorstepError as error:
            log.warning("streams: membership not renewed: %s", error)
            return 1

    def _order(self) -> list[str]:
        """The streams, starting at a place of this holder's: servers starting together try
        different streams first."""
        names = sorted(self.streams)
        start = int(hashlib.sha256(self.holder.encode()).hexdigest(), 16) % max(len(names), 1)
        return names[start:] + names[:start]

    def _acquire(self, name: str) -> bool:
        try:
            return self.store.acquire_lease(name, self.holder, self.lease_seconds)
        except DoorstepError as error:  # the store down: not held, try again
            log.warning("stream lease %s not taken: %s", name, error)
            return False

    def _renew(self, name: str, running: _Running) -> bool:
        """Renewed, or still safely inside the term; ``False`` once another server holds the
        lease, or the store stayed unreachable for two thirds of the term."""
        try:
            if self.store.acquire_lease(name, self.holder, self.lease_seconds):
                running.renewed_at = time.monotonic()
                return True
            log.warning("stream lease %s lost to another server: its consumer stops", name)
            return False
        except DoorstepError as error:
            at_risk = time.monotonic() - running.renewed_at >= self.lease_seconds * 2 / 3
            log.warning("stream lease %s not renewed: %s", name, error)
            if at_risk:
                log.warning("stream lease %s may expire: its consumer stops", name)
            return not at_risk

    def _start(self, name: str) -> None:
        app, stream = self.streams[name]
        try:
            features = self.lookups.get(app.name)
            if features is None:
                features = FeatureLookup.open(app.spec, app.root)
                if features is not None:
                    self.lookups[app.name] = features
            consumer = open_consumer(app, stream, self.store, features)
        except Exception:  # a source that would not connect: let another try, then again
            log.exception("stream %s not started; trying again later", name)
            self._release(name)
            return
        consumer.observer = self.observer
        inner = threading.Event()
        running = _Running(consumer, inner, threading.Thread(), time.monotonic())

        def run() -> None:
            try:
                consumer.run(inner)
            except BaseException as error:
                running.failed.append(error)

        running.thread = threading.Thread(target=run, name=f"stream-{stream}", daemon=True)
        with self._lock:
            self.running[name] = running
        running.thread.start()
        self.consuming.set()
        log.info("consuming %s (%s)", name.removeprefix(LEASE_PREFIX), consumer.source.kind)

    def _stop(self, names: list[str]) -> None:
        """Finish the batches in hand of ``names`` (together), close their sources, release
        their leases."""
        stopping = [(name, self.running[name]) for name in names if name in self.running]
        for _, running in stopping:
            running.stop.set()
        for name, running in stopping:
            running.thread.join()
            try:
                running.consumer.source.close()
            finally:
                with self._lock:
                    del self.running[name]
                self._release(name)
        if not self.running:
            self.consuming.clear()

    def _release(self, name: str) -> None:
        try:
            self.store.release_lease(name, self.holder)
        except DoorstepError as error:
            log.warning("lease %s not released (it expires): %s", name, error)


@contextmanager
def consuming(
    apps: Iterable[LoadedApp],
    store: StoreContract,
    *,
    enabled: bool = False,
    lookups: Mapping[str, FeatureLookup] | None = None,
    lease_seconds: float = 30.0,
    observer: StreamObserver | None = None,
    on_deliveries: Callable[[], None] | None = None,
) -> Iterator[StreamGroup | None]:
    """Consume the streams of ``apps`` while the block runs (when enabled and any has one).
    ``observer`` is told of every batch; ``on_deliveries`` is called when one wrote decisions."""
    streamed = [app for app in apps if app.spec.streams]
    if not enabled or not streamed:
        yield None
        return
    group = StreamGroup(
        streamed,
        store,
        lookups=lookups,
        lease_seconds=lease_seconds,
        observer=observer,
        on_deliveries=on_deliveries,
    )
    with background(group.run_forever, name="doorstep-consumers", late="the bus redelivers"):
        yield group
