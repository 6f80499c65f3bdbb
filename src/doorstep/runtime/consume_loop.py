"""Stream consumers inside ``doorstep serve --consume``: a background thread that runs the specs'
streams (see :mod:`doorstep.runtime.consumers`) while this process holds the store's
``streams`` lease.

Every server process (each of ``--workers``, each server on the store) runs one; the lease lets
one of them consume at a time, so each stream has one consumer per group of servers (a bus's
durable consumer or consumer group would share the messages out anyway; MQTT's shared
subscription and RabbitMQ's queue too, but the rate reported per stream stays one consumer's).
The holder renews the lease every third of its term; a process that loses it (the store
unreachable past the term) stops its consumers after the micro-batch in hand, and another takes
over when the lease expires. On shutdown the consumers finish the batch in hand (committed and
acknowledged), then the lease is released for another server to take at once.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager

from doorstep.errors import DoorstepError
from doorstep.runtime.consumers import consumers_of
from doorstep.runtime.threads import background
from doorstep.services.apps.loading import LoadedApp
from doorstep.services.decide.features import FeatureLookup
from doorstep.store.protocols import StoreContract

__all__ = ["LEASE_NAME", "StreamGroup", "consuming"]

LEASE_NAME = "streams"
log = logging.getLogger("doorstep.streams")


class StreamGroup:
    """The streams of some apps, consumed while this process holds the lease."""

    def __init__(
        self,
        apps: list[LoadedApp],
        store: StoreContract,
        *,
        lookups: Mapping[str, FeatureLookup] | None = None,
        lease_seconds: float = 30.0,
        holder: str | None = None,
    ) -> None:
        self.apps, self.store, self.lookups = apps, store, dict(lookups or {})
        self.lease_seconds = lease_seconds
        self.holder = holder or f"{socket.gethostname()}:{os.getpid()}:{id(self):x}"
        self.consuming = threading.Event()
        """Set while this process's consumers run (tests wait on it)."""

    def _lease(self) -> bool:
        try:
            return self.store.acquire_lease(LEASE_NAME, self.holder, self.lease_seconds)
        except DoorstepError as error:  # the store down: not held, try again
            log.warning("streams lease not taken: %s", error)
            return False

    def run_forever(self, stop: threading.Event) -> None:
        """Wait for the lease, consume while it is held, until ``stop`` is set."""
        tick = self.lease_seconds / 3.0
        while not stop.is_set():
            if self._lease():
                try:
                    self._consume(stop, tick)
                except Exception:  # a source that would not connect, a consumer failed: again
                    log.exception("streams stopped; trying again in %g s", tick)
                finally:
                    self._release()  # another server may take over at once
            stop.wait(tick)

    def _consume(self, stop: threading.Event, tick: float) -> None:
        inner = threading.Event()
        with consumers_of(self.apps, self.store, lookups=self.lookups) as consumers:
            log.info("consuming %s", ", ".join(consumers.names))
            failed: list[BaseException] = []

            def run() -> None:
                try:
                    consumers.run(inner)
                except BaseException as error:
                    failed.append(error)

            thread = threading.Thread(target=run, name="doorstep-streams", daemon=True)
            thread.start()
            self.consuming.set()
            try:
                while thread.is_alive() and not stop.wait(tick):
                    if not self._lease():
                        log.warning("streams lease lost: consumers stop")
                        break
            finally:
                inner.set()  # the batch in hand is finished first
                thread.join()
                self.consuming.clear()
        if failed:
            raise failed[0]

    def _release(self) -> None:
        try:
            self.store.release_lease(LEASE_NAME, self.holder)
        except DoorstepError as error:
            log.warning("streams lease not released (it expires): %s", error)


@contextmanager
def consuming(
    apps: Iterable[LoadedApp],
    store: StoreContract,
    *,
    enabled: bool = False,
    lookups: Mapping[str, FeatureLookup] | None = None,
    lease_seconds: float = 30.0,
) -> Iterator[StreamGroup | None]:
    """Consume the streams of ``apps`` while the block runs (when enabled and any has one)."""
    streamed = [app for app in apps if app.spec.streams]
    if not enabled or not streamed:
        yield None
        return
    group = StreamGroup(streamed, store, lookups=lookups, lease_seconds=lease_seconds)
    with background(group.run_forever, name="doorstep-consumers", late="the bus redelivers"):
        yield group
