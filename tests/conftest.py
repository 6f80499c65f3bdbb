"""Fixtures shared across the suite."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from doorstep.examples.churn import write_example


@pytest.fixture(scope="session")
def churn_app_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The churn example, written once per session with a small, fast model."""
    directory = tmp_path_factory.mktemp("churn-template")
    write_example(directory, rows=4_000, trees=40, customers=500)
    return directory


@pytest.fixture
def churn_app(churn_app_template: Path, tmp_path: Path) -> Path:
    """A private copy of the churn example that a test may edit."""
    target = tmp_path / "churn"
    shutil.copytree(churn_app_template, target)
    return target


# database fixtures (store_url, store, pg_cluster, pg_url): see tests/fixtures_db.py
pytest_plugins = ["tests.fixtures_db"]
