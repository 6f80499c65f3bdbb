"""The file connector: one JSON line or one CSV row per delivery, appended to a local file.

Each record is the payload's keys (a payload that is not a mapping sits under ``payload``) plus
``_delivery`` (the delivery key) and ``_decision_id``. CSV files take their columns from their
header, written with the first row when the file is new or empty.

Several workers, threads or processes, may append to one file: every append holds an exclusive
``flock`` on it, writes the whole line in one go and ``fsync``\\s before the lock is released, so
lines never interleave and a delivered line is on disk. A delivery sent again (a retry after an
unclear attempt) is not written twice: under the lock, the connector reads what others appended
since its last look (the whole file, the first time) and remembers the recent ``_delivery`` keys.

A send waits for the lock at most until the attempt's
:class:`~doorstep.connectors.deadline.Deadline` (another process may hold it for long), then
gives up with ``retry``.

Outcomes: line on disk or already there → ``delivered``; disk full, quota exceeded, I/O error
(a half-written line is cut off again), the lock still held when the attempt's deadline passed
→ ``retry``; permission denied, a folder in the way, a payload key that is not a column of the
CSV file → ``failed``.
"""

from __future__ import annotations

import builtins
import contextlib
import csv
import errno
import fcntl
import io
import json
import os
import stat
import threading
import time
from collections import OrderedDict
from collections.abc import Mapping
from typing import Any, ClassVar

from pydantic import BaseModel

from doorstep.connectors.base import ConnectorContext, Message, SendOutcome, SendResult
from doorstep.connectors.deadline import Deadline
from doorstep.core.spec.models import FileConnectorSpec
from doorstep.core.suggest import did_you_mean

__all__ = ["FileConnector"]

REMEMBERED_KEYS = 100_000
"""How many recent delivery keys a connector remembers to skip resends (retries come soon)."""

_TRANSIENT = frozenset(
    {errno.ENOSPC, errno.EDQUOT, errno.EIO, errno.EAGAIN, errno.EINTR, errno.ENFILE}
    | {errno.EMFILE, errno.ENOLCK, errno.EBUSY}
)


class _Rejected(Exception):
    """The record cannot be written to this file whatever happens next."""


class _Late(Exception):
    """The attempt's deadline passed (or it was cancelled) while waiting for a lock."""


_LOCK_POLL = 0.01
"""Seconds between tries for a file lock held by another writer, while a deadline runs."""


class FileConnector:
    """Appends each delivery to ``path`` as JSON Lines or CSV (see the module docstring)."""

    type: ClassVar[str] = "file"
    spec_model: ClassVar[builtins.type[BaseModel]] = FileConnectorSpec

    def __init__(self, spec: FileConnectorSpec, context: ConnectorContext) -> None:
        self.spec = spec
        self.context = context
        self.path = context.base_dir / spec.path
        self._lock = threading.Lock()
        self._seen: OrderedDict[str, None] = OrderedDict()
        self._file: tuple[int, int] | None = None
        """(device, inode) of the file read so far: another one means it was rotated."""
        self._offset = 0
        self._columns: list[str] | None = None

    @classmethod
    def from_spec(cls, spec: BaseModel, context: ConnectorContext) -> FileConnector:
        """Build the connector; the file is opened on each send (so rotating it is safe)."""
        if not isinstance(spec, FileConnectorSpec):
            raise TypeError(
                "The 'spec' parameter of FileConnector.from_spec must be a FileConnectorSpec. "
                f"Got {type(spec).__name__} instead."
            )
        return cls(spec, context)

    def send(self, delivery: Message) -> SendResult:
        """Append one record unless this delivery's key is already in the file."""
        payload = delivery.payload
        record = dict(payload) if isinstance(payload, Mapping) else {"payload": payload}
        record["_delivery"] = delivery.key
        record["_decision_id"] = delivery.context.get("decision_id")
        deadline = delivery.deadline
        try:
            if not self._lock.acquire(timeout=-1 if deadline is None else deadline.remaining()):
                raise _Late("waiting for another send of this connector")
            try:
                written = self._append(delivery.key, record, deadline)
            finally:
                self._lock.release()
        except _Late as late:
            assert deadline is not None
            return deadline.give_up(f"{late} to {self.spec.path}")
        except _Rejected as error:
            return SendResult("failed", str(error))
        except OSError as error:
            outcome: SendOutcome = "retry" if error.errno in _TRANSIENT else "failed"
            reason = error.strerror or type(error).__name__
            return SendResult(outcome, f"cannot append to {self.spec.path}: {reason}")
        if not written:
            return SendResult("delivered", f"already in {self.spec.path}; not written again")
        return SendResult("delivered", f"appended to {self.spec.path}")

    def close(self) -> None:
        """Nothing to release: the file is opened and closed by each send."""

    def _append(self, key: str, record: dict[str, Any], deadline: Deadline | None) -> bool:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o644)
        try:
            _lock(fd, deadline)
            info = os.fstat(fd)
            regular = stat.S_ISREG(info.st_mode)
            if regular:
                self._catch_up(fd, info)
            if key in self._seen:
                return False
            header = info.st_size == 0 if regular else self._columns is None
            data = self._encode(record, header=header)
            if regular and info.st_size and os.pread(fd, 1, info.st_size - 1) != b"\n":
                data = b"\n" + data  # a line cut short by a crash stays alone on its line
            try:
                _write_all(fd, data)
                os.fsync(fd)
            except OSError:
                if regular:  # no half line is left behind for the next attempt
                    with contextlib.suppress(OSError):
                        os.ftruncate(fd, info.st_size)
                raise
            self._offset = info.st_size + len(data)
            self._remember(key)
            return True
        finally:
            os.close(fd)  # releases the lock

    def _catch_up(self, fd: int, info: os.stat_result) -> None:
        """Read the delivery keys appended since the last look (by anyone)."""
        identity = (info.st_dev, info.st_ino)
        if identity != self._file or info.st_size < self._offset:
            self._file, self._offset, self._columns = identity, 0, None
        if info.st_size == self._offset:
            return
        with os.fdopen(os.dup(fd), "rb") as stream:
            stream.seek(self._offset)
            if self.spec.format == "jsonl":
                for line in stream:
                    self._remember_line(line)
            else:
                text = io.TextIOWrapper(stream, encoding="utf-8", errors="replace", newline="")
                try:
                    self._remember_rows(text)
                finally:
                    text.detach()  # the stream is closed by its own ``with``
        self._offset = info.st_size

    def _remember_line(self, line: bytes) -> None:
        if b'"_delivery"' not in line:
            return
        try:
            key = json.loads(line).get("_delivery")
        except (ValueError, AttributeError):  # a torn or foreign line
            return
        if isinstance(key, str):
            self._remember(key)

    def _remember_rows(self, text: io.TextIOWrapper) -> None:
        rows = csv.reader(text)
        try:
            if self._columns is None:
                self._columns = next(rows, None)
            if not self._columns or "_delivery" not in self._columns:
                return
            index = self._columns.index("_delivery")
            for row in rows:
                if len(row) > index:
                    self._remember(row[index])
        except csv.Error:  # not CSV from here on (e.g. a NUL byte): keep what was read
            return

    def _remember(self, key: str) -> None:
        self._seen[key] = None
        self._seen.move_to_end(key)
        if len(self._seen) > REMEMBERED_KEYS:
            self._seen.popitem(last=False)

    def _encode(self, record: dict[str, Any], *, header: bool) -> bytes:
        if self.spec.format == "jsonl":
            try:
                line = json.dumps(record, ensure_ascii=False, allow_nan=False, default=str)
            except ValueError as error:
                raise _Rejected(f"the payload is not valid JSON: {error}") from None
            return (line + "\n").encode()
        if header or not self._columns:  # a new file, or one without a readable header
            self._columns = list(record)
        extra = [column for column in record if column not in self._columns]
        if extra:
            raise _Rejected(
                f"payload key {extra[0]!r} is not a column of {self.spec.path}"
                f"{did_you_mean(extra[0], self._columns)}; its columns: "
                f"{', '.join(self._columns)}. Start a new file to add columns"
            )
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        if header:
            writer.writerow(self._columns)
        writer.writerow([_cell(record.get(column)) for column in self._columns])
        return out.getvalue().encode()


def _cell(value: Any) -> str:
    """A CSV cell: text as it is, JSON for everything else (``true``, ``1.5``, ``{"a": 1}``)."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, default=str)


def _lock(fd: int, deadline: Deadline | None) -> None:
    """Take the file's exclusive lock; by ``deadline`` when there is one (else wait as long as
    another writer holds it)."""
    if deadline is None:
        fcntl.flock(fd, fcntl.LOCK_EX)
        return
    pause = _LOCK_POLL
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            if deadline.expired:
                raise _Late("waiting for the lock another writer holds on the file") from None
            time.sleep(min(pause, deadline.remaining()))
            pause = min(pause * 2, 0.1)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]
