"""``doorstep audit verify``: the whole head printed, and a saved head checked with ``--expect``
after later appends, a truncation and a full rewrite (both invisible to the chain alone)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from doorstep.cli.audit import audit_app
from doorstep.store import Store, open_store
from doorstep.store.audit import GENESIS, event_hash
from doorstep.store.tables import api_keys, audit_events

runner = CliRunner()
HEAD = re.compile(r"head (\d+):([0-9a-f]{64})\b")


@pytest.fixture
def url(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'audit.db'}"
    with open_store(url) as store:
        for name in ("a", "b", "c"):
            store.create_key(name, "viewer", actor="admin")
    return url


def _verify(url: str, *args: str) -> tuple[int, str]:
    result = runner.invoke(audit_app, ["verify", "--db", url, *args])
    return result.exit_code, " ".join(result.output.split())


def _head(url: str) -> str:
    code, output = _verify(url)
    assert code == 0, output
    match = HEAD.search(output)
    assert match is not None, output
    return f"{match.group(1)}:{match.group(2)}"


def test_the_whole_head_is_printed(url: str) -> None:
    with open_store(url) as store:
        last = store.audit_head()
    assert last is not None
    assert _head(url) == f"{last[0]}:{last[1]}"


def test_a_saved_head_is_found_on_the_chain_after_later_appends(url: str) -> None:
    saved = _head(url)
    with open_store(url) as store:
        store.create_key("d", "viewer", actor="admin")
    code, output = _verify(url, "--expect", saved)
    assert code == 0, output
    assert output.startswith("ok: 4 events verified; head 4:")
    assert f"the saved head {saved} is on the chain" in output


def test_newest_events_deleted_with_their_rows_are_found_by_the_saved_head(url: str) -> None:
    saved = _head(url)
    with open_store(url) as store:
        _sql(store, audit_events.delete().where(audit_events.c.seq == 3))
        _sql(store, api_keys.delete().where(api_keys.c.name == "c"))
    assert _verify(url)[0] == 0  # a shorter chain that verifies: why an anchor is needed
    code, output = _verify(url, "--expect", saved)
    assert code == 1
    assert "event 3: truncated" in output and "the chain ends at event 2" in output


def test_a_history_rewritten_with_every_hash_recomputed_is_found_by_the_saved_head(
    url: str,
) -> None:
    saved = _head(url)
    with open_store(url) as store, store.engine.connect() as conn:
        events = conn.execute(sa.select(audit_events).order_by(audit_events.c.seq)).all()
    previous = GENESIS
    with open_store(url) as store:
        for event in events:
            actor = "mallory" if event.seq == 2 else event.actor
            digest = event_hash(
                previous, event.seq, event.at, actor, event.kind, event.subject, event.payload
            )
            _sql(
                store,
                audit_events.update()
                .where(audit_events.c.seq == event.seq)
                .values(actor=actor, prev_hash=previous, hash=digest),
            )
            previous = digest
        _sql(store, api_keys.update().where(api_keys.c.name == "b").values(created_by="mallory"))
    assert _verify(url)[0] == 0
    code, output = _verify(url, "--expect", saved)
    assert code == 1
    assert "event 3: rewritten" in output and saved.split(":")[1] in output


@pytest.mark.parametrize("given", ["3", "3:abc", "x:" + "0" * 64, "0:" + "0" * 64])
def test_a_malformed_saved_head_is_refused_saying_the_form(url: str, given: str) -> None:
    code, output = _verify(url, "--expect", given)
    assert code == 1
    assert "'--expect' parameter of audit verify must be SEQ:HASH" in output
    assert repr(given) in output


def _sql(store: Store, statement: sa.Executable) -> None:
    with store.engine.begin() as conn:
        conn.execute(statement)
