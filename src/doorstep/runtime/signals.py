"""Running a long loop until SIGINT or SIGTERM, the same way for every command that has one."""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable
from types import FrameType

__all__ = ["until_signal"]


def until_signal(run: Callable[[threading.Event], None], on_stop: Callable[[str], None]) -> None:
    """Call ``run(stop)`` until SIGINT or SIGTERM sets ``stop`` (``on_stop`` is told the signal's
    name first); a second signal raises :class:`KeyboardInterrupt`. The previous handlers are put
    back when ``run`` returns."""
    stop = threading.Event()

    def handle(signum: int, _frame: FrameType | None) -> None:
        if stop.is_set():
            raise KeyboardInterrupt
        on_stop(signal.Signals(signum).name)
        stop.set()

    previous = {s: signal.signal(s, handle) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        run(stop)
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
