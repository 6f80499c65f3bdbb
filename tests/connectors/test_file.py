"""The file connector on a real file system: appends, locking across processes, resends."""

from __future__ import annotations

import csv
import errno
import fcntl
import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from doorstep.connectors.base import ConnectorContext, Message, SendResult
from doorstep.connectors.deadline import Deadline
from doorstep.connectors.file import FileConnector
from doorstep.core.spec.models import FileConnectorSpec

DeliveryFactory = Callable[..., Message]


def connector(base_dir: Path, path: str = "out/actions.jsonl", **spec: Any) -> FileConnector:
    context = ConnectorContext(name="log", base_dir=base_dir)
    return FileConnector.from_spec(FileConnectorSpec(type="file", path=path, **spec), context)


def lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_each_delivery_is_one_json_line(tmp_path: Path, delivery: DeliveryFactory) -> None:
    log = connector(tmp_path)
    first = delivery()
    result = log.send(first)
    assert (result.outcome, result.detail) == ("delivered", "appended to out/actions.jsonl")
    log.send(delivery(context={"decision_id": "d-2"}, payload="call back"))
    log.close()
    written = lines(tmp_path / "out" / "actions.jsonl")
    assert written[0] == {
        "customer_id": "C-1042",
        "score": 0.8731,
        "offer": "discount_20",
        "_delivery": first.key,
        "_decision_id": first.context["decision_id"],
    }
    assert written[1]["payload"] == "call back" and written[1]["_decision_id"] == "d-2"


def test_a_resend_is_not_written_twice_even_after_a_restart(
    tmp_path: Path, delivery: DeliveryFactory
) -> None:
    log = connector(tmp_path)
    assert log.send(delivery()).detail.startswith("appended")
    again = log.send(delivery(attempt=2))
    assert (again.outcome, again.detail) == (
        "delivered",
        "already in out/actions.jsonl; not written again",
    )
    restarted = connector(tmp_path)  # a new worker reads the keys already in the file
    assert restarted.send(delivery(attempt=3)).detail.startswith("already in")
    assert restarted.send(delivery(context={"decision_id": "d-2"})).detail.startswith("appended")
    assert len(lines(tmp_path / "out" / "actions.jsonl")) == 2


def test_csv_has_one_header_and_keeps_its_columns(
    tmp_path: Path, delivery: DeliveryFactory
) -> None:
    log = connector(tmp_path, path="actions.csv", format="csv")
    log.send(delivery())
    log.send(delivery(context={"decision_id": "d-2"}, payload={"customer_id": "C-7", "score": 0.5}))
    nested = {"customer_id": "C-8", "offer": {"kind": "discount", "pct": 20}}
    log.send(delivery(context={"decision_id": "d-3"}, payload=nested))
    extra = log.send(delivery(context={"decision_id": "d-4"}, payload={"colour": "red"}))
    assert extra.outcome == "failed"
    assert "'colour' is not a column of actions.csv" in extra.detail
    near = log.send(delivery(context={"decision_id": "d-5"}, payload={"scroe": 0.5}))
    assert near.outcome == "failed" and "(did you mean 'score'?)" in near.detail
    assert (
        connector(tmp_path, path="actions.csv", format="csv")
        .send(delivery())
        .detail.startswith("already in")
    )
    with (tmp_path / "actions.csv").open(newline="") as stream:
        table = list(csv.reader(stream))
    assert table[0] == ["customer_id", "score", "offer", "_delivery", "_decision_id"]
    assert table[1][:3] == ["C-1042", "0.8731", "discount_20"]
    assert table[2][:3] == ["C-7", "0.5", ""]
    assert json.loads(table[3][2]) == {"kind": "discount", "pct": 20}
    assert len(table) == 4


def test_a_rotated_file_starts_again_with_a_header(
    tmp_path: Path, delivery: DeliveryFactory
) -> None:
    log = connector(tmp_path, path="actions.csv", format="csv")
    log.send(delivery())
    (tmp_path / "actions.csv").rename(tmp_path / "actions.csv.1")
    log.send(delivery(context={"decision_id": "d-2"}))
    assert (tmp_path / "actions.csv").read_text().startswith("customer_id,score,offer,_delivery,")
    assert len((tmp_path / "actions.csv").read_text().splitlines()) == 2


def test_a_torn_last_line_stays_on_its_own(tmp_path: Path, delivery: DeliveryFactory) -> None:
    path = tmp_path / "actions.jsonl"
    path.write_text('{"_delivery": "old", "customer_id": "C-1"}\n{"_delivery": "torn", "cust')
    log = connector(tmp_path, path="actions.jsonl")
    assert log.send(delivery(key="old")).detail.startswith("already in")
    assert log.send(delivery()).detail.startswith("appended")
    text = path.read_text().splitlines()
    assert text[1] == '{"_delivery": "torn", "cust'
    assert json.loads(text[2])["customer_id"] == "C-1042"


def test_a_payload_that_is_not_json_fails(tmp_path: Path, delivery: DeliveryFactory) -> None:
    result = connector(tmp_path).send(delivery(payload={"score": float("nan")}))
    assert result.outcome == "failed" and "not valid JSON" in result.detail


def test_a_full_disk_is_retried(tmp_path: Path, delivery: DeliveryFactory) -> None:
    result = connector(tmp_path, path="/dev/full").send(delivery())
    assert (result.outcome, result.detail) == (
        "retry",
        "cannot append to /dev/full: No space left on device",
    )


def test_a_failed_write_leaves_no_half_line(
    tmp_path: Path, delivery: DeliveryFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    log = connector(tmp_path, path="actions.jsonl")
    log.send(delivery())
    before = (tmp_path / "actions.jsonl").read_bytes()

    def broken_disk(fd: int) -> None:
        raise OSError(errno.EIO, os.strerror(errno.EIO))

    monkeypatch.setattr(os, "fsync", broken_disk)  # the os module the connector calls
    second = delivery(context={"decision_id": "d-2"})
    assert log.send(second).outcome == "retry"
    assert (tmp_path / "actions.jsonl").read_bytes() == before
    monkeypatch.undo()
    assert log.send(second).detail.startswith("appended")  # the key was not remembered
    assert len(lines(tmp_path / "actions.jsonl")) == 2


def test_a_lock_held_by_another_writer_is_given_up_on_at_the_deadline(
    tmp_path: Path, delivery: DeliveryFactory
) -> None:
    target = connector(tmp_path)
    path = tmp_path / "out" / "actions.jsonl"
    path.parent.mkdir()
    results: list[SendResult] = []
    sending = threading.Thread(
        target=lambda: results.append(target.send(delivery(deadline=Deadline(0.5))))
    )
    with path.open("ab") as other:
        fcntl.flock(other, fcntl.LOCK_EX)  # another process's writer, stuck
        started = time.monotonic()
        sending.start()
        sending.join(timeout=3)
        took = time.monotonic() - started
    sending.join(timeout=10)
    assert results and 0.5 <= took < 1.0, f"still waiting after {took:.1f} s"
    (result,) = results
    assert result.outcome == "retry"
    assert result.detail == (
        "gave up after 0.5 s while waiting for the lock another writer holds on the file to "
        "out/actions.jsonl: an attempt ends before its lease does"
    )
    assert target.send(delivery(deadline=Deadline(0.5))).outcome == "delivered"
    assert len(lines(path)) == 1


def test_a_folder_in_the_way_fails(tmp_path: Path, delivery: DeliveryFactory) -> None:
    (tmp_path / "actions.jsonl").mkdir()
    result = connector(tmp_path, path="actions.jsonl").send(delivery())
    assert (result.outcome, result.detail) == (
        "failed",
        "cannot append to actions.jsonl: Is a directory",
    )


def test_permission_denied_fails(
    tmp_path: Path, delivery: DeliveryFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse(*args: Any, **kwargs: Any) -> int:
        raise PermissionError(errno.EACCES, os.strerror(errno.EACCES))

    # the tests may run as root, who may write anywhere: make the OS answer as it would
    monkeypatch.setattr(os, "open", refuse)  # the os module the connector calls
    result = connector(tmp_path).send(delivery())
    assert (result.outcome, result.detail) == (
        "failed",
        "cannot append to out/actions.jsonl: Permission denied",
    )


def test_threads_with_their_own_connectors_never_interleave(
    tmp_path: Path, delivery: DeliveryFactory
) -> None:
    big = {"text": "x" * 70_000}  # larger than a pipe buffer or a page: one write() anyway
    sent = [delivery(context={"decision_id": f"d-{i}"}, payload=big) for i in range(60)]

    def work(items: list[Message]) -> None:
        log = connector(tmp_path, path="actions.jsonl")  # like a separate worker
        for item in items:
            assert log.send(item).outcome == "delivered"

    threads = [threading.Thread(target=work, args=(sent[i::3] + sent[:20],)) for i in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    keys = [line["_delivery"] for line in lines(tmp_path / "actions.jsonl")]
    assert sorted(keys) == sorted(item.key for item in sent)


WORKER = """
import sys
from pathlib import Path
from doorstep.connectors.base import ConnectorContext, Message, SendResult
from doorstep.connectors.deadline import Deadline
from doorstep.connectors.file import FileConnector
from doorstep.core.spec.models import FileConnectorSpec

folder, name, first, last = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
spec = FileConnectorSpec(type="file", path=name, format=name.rpartition(".")[2])
log = FileConnector.from_spec(spec, ConnectorContext(name="log", base_dir=Path(folder)))
for i in range(first, last):
    payload = {"n": i, "text": "y" * 3000, "quote": 'a "b", c'}
    item = Message(str(i), f"key-{i}", "churn", "offer", "log", 1, {"decision_id": i}, payload)
    assert log.send(item).outcome == "delivered"
"""


@pytest.mark.parametrize("name", ["actions.jsonl", "actions.csv"])
def test_processes_append_whole_lines_and_each_key_once(tmp_path: Path, name: str) -> None:
    ranges = [(0, 150), (100, 250)]  # 50 keys are sent by both processes
    workers = [
        subprocess.Popen([sys.executable, "-c", WORKER, str(tmp_path), name, str(a), str(b)])
        for a, b in ranges
    ]
    assert [worker.wait(timeout=60) for worker in workers] == [0, 0]
    path = tmp_path / name
    if name.endswith(".jsonl"):
        numbers = [line["n"] for line in lines(path)]
    else:
        with path.open(newline="") as stream:
            numbers = [int(row["n"]) for row in csv.DictReader(stream)]
    assert sorted(numbers) == list(range(250))


def test_from_spec_takes_only_its_spec(tmp_path: Path) -> None:
    from doorstep.core.spec.models import SQLConnectorSpec

    spec = SQLConnectorSpec(type="sql", url="sqlite://", table="t")
    with pytest.raises(TypeError, match="must be a FileConnectorSpec. Got SQLConnectorSpec"):
        FileConnector.from_spec(spec, ConnectorContext(name="log", base_dir=tmp_path))


def test_registered_under_its_entry_point() -> None:
    from importlib.metadata import entry_points

    from doorstep.connectors.base import ConnectorFactory

    [entry] = entry_points(group="doorstep.connectors", name="file")
    assert entry.load() is FileConnector
    assert isinstance(FileConnector, ConnectorFactory) and FileConnector.type == "file"
