"""The SQLite writer lock excludes threads and processes, and its wait is bounded."""

from __future__ import annotations

import multiprocessing
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from doorstep.errors import StoreUnavailableError
from doorstep.store.writer_lock import WriterLock


def _count(lock_path: str, counter: str, times: int, start: Any) -> None:
    lock = WriterLock(Path(lock_path), timeout=10)
    start.wait(30)
    for _ in range(times):
        _increment(lock, Path(counter))
    lock.close()


def _hold(lock_path: str, held: Any, done: Any) -> None:
    lock = WriterLock(Path(lock_path), timeout=10)
    with lock:
        held.set()
        done.wait(10)


def test_processes_and_threads_take_turns(tmp_path: Path) -> None:
    counter = tmp_path / "counter"
    counter.write_text("0")
    lock_path = str(tmp_path / "db-writer.lock")
    context = multiprocessing.get_context("spawn")
    start = context.Barrier(3)
    processes = [
        context.Process(target=_count, args=(lock_path, str(counter), 300, start)) for _ in range(2)
    ]
    for process in processes:
        process.start()
    start.wait(30)
    shared = WriterLock(Path(lock_path), timeout=10)
    threads = [
        threading.Thread(target=_increment_times, args=(shared, counter, 300)) for _ in range(2)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for process in processes:
        process.join(30)
        assert process.exitcode == 0
    assert int(counter.read_text()) == 4 * 300


def _increment_times(lock: WriterLock, counter: Path, times: int) -> None:
    for _ in range(times):
        _increment(lock, counter)


def _increment(lock: WriterLock, counter: Path) -> None:
    with lock:  # a read-modify-write that loses updates unless writers exclude each other
        value = int(counter.read_text())
        time.sleep(0.0002)
        counter.write_text(str(value + 1))


def test_wait_is_bounded_and_the_lock_is_released_after(tmp_path: Path) -> None:
    lock_path = str(tmp_path / "db-writer.lock")
    context = multiprocessing.get_context("spawn")
    held, done = context.Event(), context.Event()
    holder = context.Process(target=_hold, args=(lock_path, held, done))
    holder.start()
    assert held.wait(20)
    lock = WriterLock(Path(lock_path), timeout=0.05)
    with pytest.raises(StoreUnavailableError, match="locked by another writer"):
        with lock:
            pass
    # the failed wait left the thread lock free; once the holder lets go, the lock is ours
    done.set()
    holder.join(20)
    with lock:
        pass
    lock.close()


def test_in_memory_databases_lock_threads_only() -> None:
    lock = WriterLock(None, timeout=0.05)
    with lock:
        with pytest.raises(StoreUnavailableError):
            with lock:
                pass
