"""Work in a niced child process (``doorstep monitor --nice``): the result or the error comes
back; the caller's priority and environment stay as they were."""

from __future__ import annotations

import os
import pickle
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from doorstep.errors import DoorstepError, InputError, SpecError, SpecIssue
from doorstep.runtime.niced import RelayedError, niced, relayable


def _where(extra: int) -> tuple[int, int, str | None, int]:
    return os.getpid(), os.nice(0), os.environ.get("POLARS_MAX_THREADS"), extra


def _spec_error() -> None:
    raise SpecError([SpecIssue("doorstep.yaml", 3, "app.name", "must be a slug")])


def _input_error() -> None:
    raise InputError("--since must be an ISO 8601 time. Got 'x' instead.")


def test_without_nice_or_threads_the_function_runs_here() -> None:
    assert niced(_where, nice=0) is _where


def test_a_niced_call_runs_in_a_child_and_leaves_this_process_alone() -> None:
    mine = os.nice(0)
    environment = os.environ.get("POLARS_MAX_THREADS")
    pid, nice, threads, extra = niced(_where, nice=2, threads=1)(7)
    assert pid != os.getpid() and extra == 7
    assert nice == mine + min(2, 19 - mine) and threads == "1"
    assert os.nice(0) == mine and os.environ.get("POLARS_MAX_THREADS") == environment


def test_doorstep_errors_come_back_with_their_code_and_message() -> None:
    with pytest.raises(DoorstepError) as caught:
        niced(_spec_error, nice=1)()
    assert caught.value.code == "spec_invalid"
    assert "doorstep.yaml:3 app.name: must be a slug" in caught.value.message
    with pytest.raises(InputError, match="--since must be"):  # its own class: it pickles
        niced(_input_error, nice=1)()


def test_an_error_that_does_not_pickle_is_relayed_as_its_code_and_message() -> None:
    error = SpecError([SpecIssue("doorstep.yaml", 3, "app.name", "must be a slug")])
    relayed = relayable(error)
    assert isinstance(relayed, RelayedError)
    copy = pickle.loads(pickle.dumps(relayed))
    assert (copy.code, copy.message) == ("spec_invalid", error.message)
    plain = InputError("bad")
    assert relayable(plain) is plain


def test_the_monitor_process_survives_a_broken_spec(tmp_path: Path) -> None:
    """A spec broken between two slots fails that run; the child process lives on."""
    from doorstep.runtime.monitor_process import MonitorProcess

    (tmp_path / "doorstep.yaml").write_text("app: [not, a, mapping\n")
    app: Any = SimpleNamespace(root=tmp_path, doc=SimpleNamespace(file="doorstep.yaml"))
    process = MonitorProcess(f"sqlite:///{tmp_path / 'doorstep.db'}", nice=0)
    try:
        with pytest.raises(DoorstepError) as caught:
            process.run(app, now=None, actor="test")  # type: ignore[arg-type]
        assert caught.value.code == "spec_invalid"
        assert process._pool.submit(os.getpid).result() != os.getpid()
    finally:
        process.close()


def _lowered_with_a_thread_already_running() -> tuple[set[tuple[str, int]], int]:
    """In a fresh child: a thread started first (as a library's pool at import), then
    ``lower_priority``; the class and nice of each thread, and this process's base nice."""
    import threading

    from doorstep.runtime.niced import lower_priority, scheduling_class

    base = os.getpriority(os.PRIO_PROCESS, 0)
    started, stop = threading.Event(), threading.Event()

    def pool_thread() -> None:
        started.set()
        stop.wait(30)

    early = threading.Thread(target=pool_thread, daemon=True)
    early.start()
    started.wait(10)
    lower_priority(3, idle=True)
    late = threading.Thread(target=stop.wait, args=(30,), daemon=True)
    late.start()
    seen = {
        (scheduling_class(int(t)), os.getpriority(os.PRIO_PROCESS, int(t)))
        for t in os.listdir("/proc/self/task")
    }
    stop.set()
    return seen, base


@pytest.mark.skipif(not hasattr(os, "SCHED_IDLE"), reason="no idle scheduling class here")
def test_lower_priority_lowers_every_thread_into_the_idle_class() -> None:
    """Priorities are per thread on Linux: a pool started before the call is lowered too, and
    threads started after it inherit it."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
        seen, base = pool.submit(_lowered_with_a_thread_already_running).result()
    assert seen == {("idle", min(base + 3, 19))}


def test_the_monitor_child_is_niced_but_not_idle_by_default(tmp_path: Path) -> None:
    """``serve`` without ``--monitor-idle``: nice +10 on every thread, the normal class."""
    from doorstep.runtime.monitor_process import MonitorProcess

    process = MonitorProcess(f"sqlite:///{tmp_path / 'doorstep.db'}")
    try:
        seen = process._pool.submit(_thread_classes).result()
    finally:
        process.close()
    assert seen == {("normal", min(os.getpriority(os.PRIO_PROCESS, 0) + 10, 19))}


def _thread_classes() -> set[tuple[str, int]]:
    from doorstep.runtime.niced import scheduling_class

    return {
        (scheduling_class(int(t)), os.getpriority(os.PRIO_PROCESS, int(t)))
        for t in os.listdir("/proc/self/task")
    }
