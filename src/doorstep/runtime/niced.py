"""Work at a lower CPU priority without lowering the caller's: the work runs in a child process
started for it, niced and with its thread pools capped, and its result (or its error) comes
back to the caller.

``doorstep monitor --nice N --threads T`` computes its report this way, so that a server on the
same machine keeps its latency while the command's own process keeps its priority; the
scheduled monitor of ``serve`` runs in a long-lived child made the same way
(:mod:`.monitor_process`). A child is spawned (a fresh interpreter: nothing inherited but the
environment and the working directory), with its thread pools capped through the environment
it starts with (polars and OpenMP size their pools when they load), and lowers its own priority
before it runs anything.

The function and its arguments must pickle (module-level functions, plain values). A
:class:`~doorstep.errors.DoorstepError` raised in the child is raised here with its code and
message (its own class when it pickles, else a :class:`RelayedError`).
"""

from __future__ import annotations

import multiprocessing
import os
import pickle
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from functools import wraps
from typing import Any, ParamSpec, TypeVar

from doorstep.errors import DoorstepError

__all__ = [
    "THREAD_VARIABLES",
    "RelayedError",
    "environment",
    "lower_priority",
    "niced",
    "relayable",
    "scheduling_class",
    "thread_caps",
]

THREAD_VARIABLES = ("POLARS_MAX_THREADS", "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS")
"""What polars, OpenMP and OpenBLAS read to size their thread pools."""

P = ParamSpec("P")
T = TypeVar("T")


class RelayedError(DoorstepError):
    """A :class:`DoorstepError` of a child process whose class does not pickle: the same code
    and message."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code

    def __reduce__(self) -> tuple[Any, ...]:
        return (RelayedError, (self.code, self.message))


def niced(function: Callable[P, T], *, nice: int, threads: int | None = None) -> Callable[P, T]:
    """``function``, called in a child process whose CPU priority is ``nice`` lower than this
    process's, with at most ``threads`` threads per pool (``None``: one per core). With ``nice``
    0 and no ``threads`` there is nothing to change: it is called in this process."""
    if nice == 0 and threads is None:
        return function

    @wraps(function)
    def in_child(*args: P.args, **kwargs: P.kwargs) -> T:
        pool = ProcessPoolExecutor(
            max_workers=1,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=lower_priority,
            initargs=(nice,),
        )
        with pool:
            with environment(thread_caps(threads)):  # the child starts with them, then here
                future = pool.submit(_call, function, args, kwargs)
            return future.result()

    return in_child


def thread_caps(threads: int | None) -> dict[str, str]:
    """The environment that caps every thread pool at ``threads`` (``None``: no cap)."""
    return {} if threads is None else {name: str(threads) for name in THREAD_VARIABLES}


@contextmanager
def environment(values: dict[str, str]) -> Iterator[None]:
    """``values`` in this process's environment while the block runs (then as before)."""
    before = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in before.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def lower_priority(nice: int, idle: bool = False) -> None:
    """Lower this process's CPU priority by ``nice`` (a child's first act; never the caller's),
    and with ``idle`` put it in the idle scheduling class where the system has one (Linux
    ``SCHED_IDLE``: it runs only when a core has nothing else to run, and a thread of any other
    process that wakes takes the core from it at once, where a niced one may run on to the end
    of its slice). Every thread the process has so far is lowered (on Linux, priorities are per
    thread, and a library imported before this call may have started its pool already); threads
    started later inherit it."""
    threads = _threads()
    if threads is None:  # no per-thread view: the process as a whole
        if nice > 0 and hasattr(os, "nice"):
            os.nice(nice)
        return
    for thread in threads:
        try:
            if nice > 0:
                current = os.getpriority(os.PRIO_PROCESS, thread)
                os.setpriority(os.PRIO_PROCESS, thread, min(current + nice, 19))
            if idle and hasattr(os, "SCHED_IDLE"):
                os.sched_setscheduler(thread, os.SCHED_IDLE, os.sched_param(0))
        except ProcessLookupError:  # a thread that ended meanwhile
            continue


def scheduling_class(pid: int = 0) -> str:
    """``"idle"`` when ``pid`` (0: this thread) runs in the idle scheduling class, else
    ``"normal"`` (and ``"normal"`` where the system has no such class)."""
    if not hasattr(os, "SCHED_IDLE"):
        return "normal"
    return "idle" if os.sched_getscheduler(pid) == os.SCHED_IDLE else "normal"


def _threads() -> list[int] | None:
    """This process's thread ids (Linux), or ``None`` where there is no ``/proc``."""
    if not hasattr(os, "sched_setscheduler"):
        return None
    try:
        return [int(name) for name in os.listdir("/proc/self/task")]
    except OSError:
        return None


def relayable(error: DoorstepError) -> DoorstepError:
    """``error`` if it comes through pickling whole, else a :class:`RelayedError` copy."""
    try:
        copy = pickle.loads(pickle.dumps(error))
    except Exception:  # noqa: BLE001 - a constructor that takes other arguments than the message
        return RelayedError(error.code, error.message)
    if type(copy) is type(error) and copy.message == error.message:
        return error
    return RelayedError(error.code, error.message)


# --- in the child ------------------------------------------------------------------------------


def _call(function: Callable[..., T], args: tuple[Any, ...], kwargs: dict[str, Any]) -> T:
    try:
        return function(*args, **kwargs)
    except DoorstepError as error:
        raise relayable(error) from None
