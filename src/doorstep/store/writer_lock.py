"""One SQLite writer at a time, handed over promptly across threads and processes.

SQLite admits one write transaction at a time. Left to its busy handler, a waiting writer polls
with sleeps that grow to 100 ms, so two ``serve`` workers on one database file lose most of their
throughput to sleeping. Writers here queue on a lock instead: threads of one process on a
``threading.Lock``, processes on an ``flock`` of a file beside the database, polled with sleeps of
at most a millisecond. The wait stays bounded by the store's busy timeout; a process that dies
holding the lock releases it with its file descriptor.
"""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path
from types import TracebackType

from doorstep.errors import StoreUnavailableError

try:
    import fcntl
except ImportError:  # pragma: no cover - not POSIX: SQLite's busy handler arbitrates processes
    fcntl = None  # type: ignore[assignment]

__all__ = ["WriterLock"]

_FIRST_SLEEP = 0.0001
_LONGEST_SLEEP = 0.001


class WriterLock:
    """A context manager held around each SQLite write transaction.

    ``path`` is the lock file (``None`` for an in-memory database: threads only)."""

    def __init__(self, path: Path | None, *, timeout: float) -> None:
        self.path = path
        self.timeout = timeout
        self._thread_lock = threading.Lock()
        self._fd: int | None = None
        self._pid = os.getpid()

    def __enter__(self) -> None:
        if not self._thread_lock.acquire(timeout=self.timeout):
            raise self._unavailable()
        try:
            if self.path is not None and fcntl is not None:
                self._lock_file(time.monotonic() + self.timeout)
        except BaseException:
            self._thread_lock.release()
            raise

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            if self._fd is not None and fcntl is not None:
                fcntl.flock(self._fd, fcntl.LOCK_UN)
        finally:
            self._thread_lock.release()

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def _lock_file(self, deadline: float) -> None:
        fd = self._file()
        sleep = _FIRST_SLEEP
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise self._unavailable() from None
                time.sleep(sleep)
                sleep = min(sleep * 2, _LONGEST_SLEEP)

    def _file(self) -> int:
        if self._fd is None or self._pid != os.getpid():
            # a forked child must not share its parent's open file description: flock locks
            # belong to it, so parent and child would not exclude each other
            assert self.path is not None
            self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
            self._pid = os.getpid()
        return self._fd

    def _unavailable(self) -> StoreUnavailableError:
        return StoreUnavailableError(
            f"The database is locked by another writer for more than {self.timeout:g} s. "
            "Retry later; if it persists, look for a process holding the database."
        )
