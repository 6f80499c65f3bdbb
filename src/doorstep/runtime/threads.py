"""One background loop in a daemon thread, started and stopped the same way for every loop that
``doorstep serve`` runs beside its requests (the dispatcher, the run scheduler, the monitor).

A loop is a callable that runs until the :class:`threading.Event` it is given is set. On leaving
the block the event is set, the loop is woken if it can be (``wake``), and the thread is joined
for at most ``join_seconds``; a loop still running then is logged and left to die with the
process (its work resumes from the store: leases expire, runs have checkpoints).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

__all__ = ["background"]

logger = logging.getLogger("doorstep.runtime")


@contextmanager
def background(
    loop: Callable[[threading.Event], None],
    *,
    name: str,
    wake: Callable[[], None] | None = None,
    join_seconds: float = 30.0,
    late: str = "resumes later",
) -> Iterator[threading.Event]:
    """Run ``loop(stop)`` in a daemon thread named ``name`` while the block runs.

    ``late`` ends the warning logged when the loop has not stopped within ``join_seconds``
    (what happens to its unfinished work)."""
    stop = threading.Event()
    thread = threading.Thread(target=loop, args=(stop,), name=name, daemon=True)
    thread.start()
    try:
        yield stop
    finally:
        stop.set()
        if wake is not None:
            wake()
        thread.join(timeout=join_seconds)
        if thread.is_alive():
            logger.warning("%s did not stop within %g s; %s", name, join_seconds, late)
