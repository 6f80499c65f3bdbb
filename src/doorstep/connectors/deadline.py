"""When one attempt must be over: a :class:`Deadline` for a connector's ``send``.

A connector's ``timeout`` bounds each step (connecting, each read); a target that answers one
byte at a time, or a row lock that is never released, could still keep an attempt going for
ever, past its lease, and another worker would then send the same delivery again while the
first is still sending. So the dispatcher gives every attempt a deadline a little before its
lease ends (:attr:`~doorstep.connectors.base.Message.deadline`), and a connector gives up by
then with ``retry``. The same deadline is how a stopping worker cuts sends short
(:meth:`Deadline.cancel`).

A connector uses it in one of two ways:

- **bounded steps**: every blocking call gets ``deadline.limit(timeout)`` instead of
  ``timeout`` (the HTTP connectors, the file connector's lock), and gives up when
  :attr:`Deadline.expired`;
- **a watch**: ``with deadline.watch(abort):`` runs ``abort`` (close the socket, cancel the
  query) from a watchdog thread if the deadline passes, or the attempt is cancelled, while the
  block runs (the SMTP and SQL connectors, whose client libraries take one timeout for a whole
  connection).

:meth:`Deadline.give_up` makes the ``retry`` result that says which of the two happened.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from doorstep.connectors.base import SendResult

__all__ = ["Deadline"]

logger = logging.getLogger("doorstep.deliveries")

Abort = Callable[[], None]


class Deadline:
    """``seconds`` from now (on ``clock``, :func:`time.monotonic` by default), or earlier when
    :meth:`cancel` is called. Safe to share between the sending thread and the one that
    cancels."""

    def __init__(self, seconds: float, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.seconds = seconds
        self._clock = clock
        self.at = clock() + seconds
        self._lock = threading.Lock()
        self._aborts: dict[int, Abort] = {}
        self._ids = itertools.count()
        self.cancelled = False
        """Whether :meth:`cancel` was called (the worker is stopping)."""

    def remaining(self) -> float:
        """Seconds left (0 once passed or cancelled)."""
        return 0.0 if self.cancelled else max(0.0, self.at - self._clock())

    @property
    def expired(self) -> bool:
        """Whether the attempt must stop now: the deadline passed or it was cancelled."""
        return self.cancelled or self._clock() >= self.at

    def limit(self, timeout: float | None) -> float:
        """``timeout`` for one blocking step, shortened to what is left."""
        left = self.remaining()
        return left if timeout is None else min(timeout, left)

    def cancel(self) -> None:
        """End the attempt now: every abort registered by :meth:`on_cancel` or :meth:`watch`
        runs (in this thread), and :attr:`expired` holds from now on."""
        with self._lock:
            self.cancelled = True
            aborts = list(self._aborts.values())
        for abort in aborts:
            _run(abort)

    @contextmanager
    def on_cancel(self, abort: Abort) -> Iterator[None]:
        """Run ``abort`` if :meth:`cancel` is called while the block runs (at once, when it was
        called before)."""
        key = next(self._ids)
        with self._lock:
            self._aborts[key] = abort
            cancelled = self.cancelled
        if cancelled:
            _run(abort)
        try:
            yield
        finally:
            with self._lock:
                self._aborts.pop(key, None)

    @contextmanager
    def watch(self, abort: Abort) -> Iterator[None]:
        """Run ``abort`` if the deadline passes, or :meth:`cancel` is called, while the block
        runs (at most once each; from the shared watchdog thread when the time runs out)."""
        entry = _WATCHDOG.add(self.at - self._clock(), abort)
        try:
            with self.on_cancel(abort):
                yield
        finally:
            _WATCHDOG.remove(entry)

    def give_up(self, doing: str) -> SendResult:
        """The result of an attempt this deadline cut short while ``doing`` (``retry``)."""
        if self.cancelled:
            return SendResult("retry", f"not finished: the worker stopped while {doing}")
        return SendResult(
            "retry",
            f"gave up after {self.seconds:.3g} s while {doing}: an attempt ends before its "
            "lease does",
        )


def _run(abort: Abort) -> None:
    try:
        abort()
    except Exception:  # an abort that fails leaves the step to its own timeout
        logger.debug("aborting a send failed", exc_info=True)


class _Watchdog:
    """One daemon thread that runs the aborts of watched deadlines when their time comes."""

    def __init__(self) -> None:
        self._ready = threading.Condition()
        self._due: list[tuple[float, int, list[Abort | None]]] = []
        self._ids = itertools.count()
        self._thread: threading.Thread | None = None

    def add(self, seconds: float, abort: Abort) -> list[Abort | None]:
        entry: list[Abort | None] = [abort]
        with self._ready:
            heapq.heappush(self._due, (time.monotonic() + seconds, next(self._ids), entry))
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(
                    target=self._run, name="doorstep-deadlines", daemon=True
                )
                self._thread.start()
            self._ready.notify()
        return entry

    def remove(self, entry: list[Abort | None]) -> None:
        with self._ready:
            entry[0] = None  # dropped from the heap when it comes up

    def _run(self) -> None:
        while True:
            with self._ready:
                while self._due and self._due[0][2][0] is None:
                    heapq.heappop(self._due)
                if not self._due:
                    self._ready.wait()
                    continue
                wait = self._due[0][0] - time.monotonic()
                if wait > 0:
                    self._ready.wait(wait)
                    continue
                _, _, entry = heapq.heappop(self._due)
                abort, entry[0] = entry[0], None
            if abort is not None:
                _run(abort)


_WATCHDOG = _Watchdog()
