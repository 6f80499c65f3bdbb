"""One BLAS thread while a monitor computes: its ``np.dot`` calls (DeLong's placement sums, the
estimation's and reconstruction's sums of squares) are on vectors of a page of rows, where
OpenBLAS spreading each call over every core costs more in wake-ups than it saves, and on a
machine shared with a server those threads contend with the server's for the cores (one report
of a 67,000-decision window, in process on a loaded 2-core machine: 7.3-7.8 s with OpenBLAS's
default threads, 6.8 s with one; see BENCHMARKS.md, "Monitoring under load").

The limit is set through :mod:`threadpoolctl` (which scikit-learn uses for the same purpose), so
it holds whatever the process's environment says: ``doorstep monitor`` in its own process, a
page of the server, or a scheduled run in a thread (the scheduled monitor's child process starts
with ``OPENBLAS_NUM_THREADS=1`` already: :mod:`doorstep.runtime.niced`). OpenBLAS's thread count
(with its own threads, as numpy's wheels ship it) is a setting of the whole process, and
threadpoolctl lets only one thread at a time change it; so one computation at a time holds the
limit, and one that overlaps it runs under it until the holder ends, then as the process is
(a save-and-restore by both would leave the process at one thread for good). OpenMP (the
model's threads for explanations) is left alone: in the server's process it serves decisions.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import wraps
from typing import ParamSpec, TypeVar

from threadpoolctl import threadpool_limits

__all__ = ["one_blas_thread", "with_one_blas_thread"]

P = ParamSpec("P")
T = TypeVar("T")

_lock = threading.Lock()
_holder: threading.Thread | None = None


@contextmanager
def one_blas_thread() -> Iterator[None]:
    """BLAS at one thread while the block runs, then as before (see the module docstring for
    blocks that overlap in several threads)."""
    global _holder
    with _lock:
        holds = _holder is None
        if holds:
            _holder = threading.current_thread()
    if not holds:  # nested, or another thread's computation holds the limit
        yield
        return
    try:
        with threadpool_limits(limits=1, user_api="blas"):
            yield
    finally:
        with _lock:
            _holder = None


def with_one_blas_thread(function: Callable[P, T]) -> Callable[P, T]:
    """``function``, run under :func:`one_blas_thread`."""

    @wraps(function)
    def pinned(*args: P.args, **kwargs: P.kwargs) -> T:
        with one_blas_thread():
            return function(*args, **kwargs)

    return pinned
