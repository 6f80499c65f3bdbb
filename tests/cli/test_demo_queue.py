"""The demo's last step leaves a queue to review and prints the keys to use: an admin key on
the first run (``serve`` prints none once the reviewer key exists) and a reviewer key."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from rich.console import Console

from doorstep.cli.demo_queue import prepare_review_queue
from doorstep.services.apps.loading import load_app
from doorstep.store import open_store

KEY = re.compile(r"dsk_[A-Za-z0-9_-]+")


def test_first_run_prints_an_admin_and_a_reviewer_key_later_runs_a_reviewer_key(
    churn_app: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("DOORSTEP_DATABASE_URL", raising=False)
    app = load_app(churn_app / "doorstep.yaml")
    console = Console(record=True, width=200)
    prepare_review_queue(console, app, churn_app / "customers.parquet", 8000)
    first = console.export_text()
    admin, reviewer = KEY.findall(first)
    assert "Admin API key (shown once" in first and "cases wait for a reviewer" in first

    console = Console(record=True, width=200)
    prepare_review_queue(console, app, churn_app / "customers.parquet", 8000)
    again = console.export_text()
    assert len(KEY.findall(again)) == 1 and "Admin API key" not in again
    assert "doorstep keys create --role admin" in again

    with open_store() as store:
        admin_key, reviewer_key = store.authenticate(admin), store.authenticate(reviewer)
        assert admin_key is not None and admin_key.role == "admin"
        assert reviewer_key is not None and reviewer_key.role == "reviewer"
