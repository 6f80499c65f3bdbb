"""One BLAS thread while a monitor computes, in the main thread or another (the scheduler's),
restored after; overlapping computations never leave the process at one thread."""

from __future__ import annotations

import threading

import numpy as np  # noqa: F401 - loads OpenBLAS, whose threads these tests count
from threadpoolctl import threadpool_info, threadpool_limits

from doorstep.services.monitor.alerts import run_monitor
from doorstep.services.monitor.blas import one_blas_thread, with_one_blas_thread
from doorstep.services.monitor.report import monitoring_report


def blas_threads() -> set[int]:
    return {pool["num_threads"] for pool in threadpool_info() if pool["user_api"] == "blas"}


def in_thread(function: object) -> None:
    thread = threading.Thread(target=function)  # type: ignore[arg-type]
    thread.start()
    thread.join(10)


def test_blas_runs_one_thread_inside_and_as_before_after() -> None:
    with threadpool_limits(limits=2, user_api="blas"):
        assert blas_threads() == {2}
        with one_blas_thread():
            assert blas_threads() == {1}
        assert blas_threads() == {2}


def test_a_computation_in_another_thread_is_pinned_too() -> None:
    """The scheduler runs in a thread of its own when the store has no URL for a child."""
    seen: list[set[int]] = []

    def run() -> None:
        with one_blas_thread():
            seen.append(blas_threads())

    with threadpool_limits(limits=2, user_api="blas"):
        pass  # the main thread has limited BLAS before, and let go
    in_thread(run)
    assert seen == [{1}]
    with threadpool_limits(limits=2, user_api="blas"):
        assert blas_threads() == {2}


def test_overlapping_computations_leave_blas_as_it_was() -> None:
    """Two threads entering and leaving out of order: the last to leave must not leave BLAS at
    one thread (a naive save-and-restore per block would)."""
    first_in, second_in, first_out = threading.Event(), threading.Event(), threading.Event()
    seen: list[set[int]] = []

    def first() -> None:
        with one_blas_thread():
            first_in.set()
            seen.append(blas_threads())
            second_in.wait(5)
        first_out.set()

    def second() -> None:
        first_in.wait(5)
        with one_blas_thread():
            second_in.set()
            first_out.wait(5)

    before = blas_threads()
    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert seen == [{1}]
    assert blas_threads() == before


def test_the_monitor_computations_are_pinned() -> None:
    seen: list[set[int]] = []
    with threadpool_limits(limits=2, user_api="blas"):
        with_one_blas_thread(lambda: seen.append(blas_threads()))()
    assert seen == [{1}]
    for computation in (monitoring_report, run_monitor):
        assert getattr(computation, "__wrapped__", None) is not None, computation


def test_a_nested_computation_keeps_the_outer_limit() -> None:
    with threadpool_limits(limits=2, user_api="blas"):
        with one_blas_thread():
            with one_blas_thread():
                assert blas_threads() == {1}
            assert blas_threads() == {1}
        assert blas_threads() == {2}
