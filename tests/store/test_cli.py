"""``doorstep db``, ``keys`` and ``audit`` sub-commands, on their Typer apps."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa
from typer.testing import CliRunner

from doorstep.cli.audit import audit_app
from doorstep.cli.db import db_app
from doorstep.cli.keys import keys_app
from doorstep.store import open_store
from doorstep.store.tables import audit_events

runner = CliRunner()


def test_db_upgrade(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    result = runner.invoke(db_app, ["upgrade", "--db", url])
    assert result.exit_code == 0, result.output
    from doorstep.store.migrate import head_revision

    assert head_revision() in result.output


def test_db_upgrade_reports_an_unreachable_database() -> None:
    result = runner.invoke(db_app, ["upgrade", "--db", "postgresql://x@127.0.0.1:1/none"])
    assert result.exit_code == 1
    assert "store_unavailable" in result.output


def test_keys_create_list_revoke(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    created = runner.invoke(keys_app, ["create", "--role", "client", "--name", "crm", "--db", url])
    assert created.exit_code == 0, created.output
    secret = next(line for line in created.output.split() if line.startswith("dsk_"))
    with open_store(url) as store:
        key = store.authenticate(secret)
        assert key is not None and key.role == "client"
    listed = runner.invoke(keys_app, ["list", "--db", url])
    assert listed.exit_code == 0 and "crm" in listed.output and secret not in listed.output
    revoked = runner.invoke(keys_app, ["revoke", key.id, "--db", url])
    assert revoked.exit_code == 0, revoked.output
    with open_store(url) as store:
        assert store.authenticate(secret) is None
    missing = runner.invoke(keys_app, ["revoke", "nope", "--db", url])
    assert missing.exit_code == 1 and "not_found" in missing.output
    bad = runner.invoke(keys_app, ["create", "--role", "root", "--name", "x", "--db", url])
    assert bad.exit_code == 1 and "role" in bad.output


def test_audit_verify_ok_then_names_the_first_bad_event(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    with open_store(url) as store:
        for name in ("a", "b", "c"):
            store.create_key(name, "viewer", actor="admin")
    ok = runner.invoke(audit_app, ["verify", "--db", url])
    assert ok.exit_code == 0, ok.output
    assert "3 events" in ok.output
    with open_store(url) as store, store.engine.begin() as conn:
        conn.execute(audit_events.update().where(audit_events.c.seq == 2).values(actor="eve"))
        assert conn.execute(sa.select(sa.func.count()).select_from(audit_events)).scalar() == 3
    bad = runner.invoke(audit_app, ["verify", "--db", url])
    assert bad.exit_code == 1
    assert "event 2: edited" in bad.output
