"""When each API key was last used: written at most once a minute per key and process, never
moved back, never failing the request that used the key; listed by ``doorstep keys list``;
on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from typer.testing import CliRunner

from doorstep.cli.main import app as cli
from doorstep.errors import StoreUnavailableError
from doorstep.services.governance.key_usage import KeyUsage
from doorstep.store import Store

T0 = datetime(2026, 12, 7, 10, 52, tzinfo=UTC)


class Counting:
    """The store, counting the writes (or failing them)."""

    def __init__(self, store: Store, *, fail: bool = False) -> None:
        self.store, self.fail, self.writes = store, fail, 0

    def touch_keys(self, used: dict[str, datetime]) -> None:
        self.writes += 1
        if self.fail:
            raise StoreUnavailableError("the database is locked")
        self.store.touch_keys(used)


def test_a_key_s_use_is_written_at_most_once_a_minute(store: Store) -> None:
    ana, _ = store.create_key("ana", "reviewer", actor="t")
    bo, _ = store.create_key("bo", "client", actor="t")
    assert store.get_key(ana.id).last_used_at is None  # type: ignore[union-attr]
    counting = Counting(store)
    usage = KeyUsage(counting)
    for second in range(0, 120, 2):  # a request every 2 s for 2 minutes
        moment = T0 + timedelta(seconds=second)
        if usage.due(ana.id, moment):
            usage.record(ana.id, moment)
    assert counting.writes == 2
    assert store.get_key(ana.id).last_used_at == T0 + timedelta(seconds=60)  # type: ignore[union-attr]
    assert store.get_key(bo.id).last_used_at is None  # type: ignore[union-attr]
    assert usage.record(bo.id, T0) and not usage.record(bo.id, T0 + timedelta(seconds=59))
    # another process that wrote later is never moved back
    KeyUsage(store).record(ana.id, T0)
    assert store.get_key(ana.id).last_used_at == T0 + timedelta(seconds=60)  # type: ignore[union-attr]
    assert store.verify_audit().ok  # operational, not audited state


def test_a_failed_write_is_logged_and_tried_again_on_the_next_use(
    store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    ana, _ = store.create_key("ana", "reviewer", actor="t")
    failing = Counting(store, fail=True)
    usage = KeyUsage(failing)
    assert usage.record(ana.id, T0) is False
    assert "could not record the use of API key" in caplog.text
    assert usage.due(ana.id, T0 + timedelta(seconds=1))
    failing.fail = False
    assert usage.record(ana.id, T0 + timedelta(seconds=1))
    assert store.get_key(ana.id).last_used_at == T0 + timedelta(seconds=1)  # type: ignore[union-attr]


def test_keys_list_shows_when_each_key_was_last_used(store: Store) -> None:
    ana, _ = store.create_key("ana", "reviewer", actor="t")
    store.create_key("crm", "client", actor="t")
    store.touch_keys({ana.id: T0})
    command = ["keys", "list", "--db", store.url]
    result = CliRunner().invoke(cli, command, env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "last used" in result.output
    lines = [line for line in result.output.splitlines() if "│" in line]
    rows = {line.split("│")[2].strip(): line for line in lines}
    assert "2026-12-07 10:52" in rows["ana"] and "never" in rows["crm"]
