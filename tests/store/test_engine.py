"""The SQLite store file holds decisions' inputs, personal data included: it is created
readable and writable by its owner only (0600, like the session secret), and so are the WAL
files SQLite makes beside it; an existing file keeps its permissions."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
from tests.store.factories import request

from doorstep.store import open_store


def mode(path: Path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


@pytest.mark.skipif(os.name != "posix", reason="POSIX permissions")
def test_a_new_store_file_is_private(tmp_path: Path) -> None:
    path = tmp_path / "home" / "doorstep.db"
    with open_store(f"sqlite:///{path}") as store:
        store.record([request(2)], actor="test")
        assert mode(path) == 0o600
        wal = path.with_name(path.name + "-wal")
        assert wal.exists() and mode(wal) == 0o600


@pytest.mark.skipif(os.name != "posix", reason="POSIX permissions")
def test_an_existing_store_file_keeps_its_permissions(tmp_path: Path) -> None:
    path = tmp_path / "doorstep.db"
    with open_store(f"sqlite:///{path}"):
        pass
    path.chmod(0o640)  # the operator's choice, e.g. a group that backs it up
    with open_store(f"sqlite:///{path}"):
        assert mode(path) == 0o640


def test_the_store_home_is_the_folder_of_its_sqlite_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from doorstep.store.engine import store_home

    home = Path(".doorstep")
    monkeypatch.delenv("DOORSTEP_DATABASE_URL", raising=False)
    assert store_home(None, home) == home  # the default store: .doorstep/doorstep.db
    assert store_home(f"sqlite:///{tmp_path / 'shop.db'}", home) == tmp_path
    assert store_home("sqlite:///:memory:", home) == home
    assert store_home("postgresql://doorstep@db.internal/doorstep", home) == home
    monkeypatch.setenv("DOORSTEP_DATABASE_URL", f"sqlite:///{tmp_path / 'x' / 'a.db'}")
    assert store_home(None, home) == tmp_path / "x"
    assert not (tmp_path / "x").exists()  # nothing created
