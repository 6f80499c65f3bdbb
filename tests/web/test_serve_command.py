"""``doorstep serve``: prints where to click and, on first start only, the admin key."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import uvicorn
from typer.testing import CliRunner

from doorstep.cli.errors import command_group
from doorstep.cli.serve import serve
from doorstep.store import open_store


def test_serve_prints_the_docs_url_and_a_one_time_admin_key(
    churn_app_template: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[tuple[Any, dict[str, Any]]] = []
    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: calls.append((app, kw)))
    cli = command_group()
    cli.command()(serve)
    cli.command("noop")(lambda: None)  # keep "serve" a subcommand, as in doorstep's CLI
    db = f"sqlite:///{tmp_path / 'doorstep.db'}"
    spec = str(churn_app_template / "doorstep.yaml")
    args = ["serve", spec, "--db", db, "--port", "8123", "--batch-wait-ms", "5"]
    first = CliRunner().invoke(cli, args)
    assert first.exit_code == 0, first.output
    assert "http://127.0.0.1:8123/docs" in first.output
    assert "dsk_" in first.output
    secret = next(w for w in first.output.split() if w.startswith("dsk_"))
    second = CliRunner().invoke(cli, args)
    assert second.exit_code == 0 and "dsk_" not in second.output
    app, options = calls[0]
    assert options["port"] == 8123 and app.state.settings.max_wait_ms == 5
    store = open_store(db)
    try:
        key = store.authenticate(secret)
        assert key is not None and key.role == "admin"
        assert store.model_versions("churn")
    finally:
        store.close()


def test_serve_with_workers_uses_the_factory(
    churn_app_template: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[tuple[Any, dict[str, Any]]] = []
    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: calls.append((app, kw)))
    for name in ("DOORSTEP_SERVE_SPECS", "DOORSTEP_SERVE_SETTINGS", "DOORSTEP_DATABASE_URL"):
        monkeypatch.setenv(name, "")  # restored (removed) after the test
    cli = command_group()
    cli.command()(serve)
    cli.command("noop")(lambda: None)
    db = f"sqlite:///{tmp_path / 'doorstep.db'}"
    result = CliRunner().invoke(
        cli, ["serve", str(churn_app_template), "--db", db, "--workers", "2"]
    )
    assert result.exit_code == 0, result.output
    target, options = calls[0]
    assert target == "doorstep.web.factory:app_from_env"
    assert options["factory"] is True and options["workers"] == 2


def test_serve_reports_a_broken_spec(tmp_path: Path) -> None:
    cli = command_group()
    cli.command()(serve)
    cli.command("noop")(lambda: None)
    db = f"sqlite:///{tmp_path / 'doorstep.db'}"
    result = CliRunner().invoke(cli, ["serve", str(tmp_path / "missing.yaml"), "--db", db])
    assert result.exit_code == 1
    assert "spec file does not exist" in result.output
