"""Fixtures shared across the suite."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from doorstep.cli.console import console, errors
from doorstep.examples.churn import write_example
from doorstep.services.apps.loading import LoadedApp
from doorstep.services.apps.registry import Registry, load_registry


@pytest.fixture(autouse=True)
def console_width_put_back() -> Iterator[None]:
    """Fail the test that leaves the command line's consoles at a width pinned by hand: the width
    would outlive it and cut the tables of every later command in the process, whatever their
    ``COLUMNS`` says (``monkeypatch.setattr(console, "width", ...)`` does that: it puts the
    property back as the number it read). Pin ``console._width`` through monkeypatch instead."""
    before = (console._width, errors._width)
    yield
    after = (console._width, errors._width)
    if after != before:
        console._width, errors._width = before
        pytest.fail(f"the test left the consoles' width pinned at {after} (it was {before})")


@pytest.fixture(scope="session")
def churn_app_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The churn example, written once per session with a small, fast model."""
    directory = tmp_path_factory.mktemp("churn-template")
    write_example(directory, rows=4_000, trees=40, customers=500)
    # The example's nightly run (02:00 UTC, caught up for 15 minutes) would start in any server a
    # test runs in that quarter of an hour and decide the customers behind its back: here it is
    # due on leap days only. Tests of schedules declare their own.
    spec = directory / "doorstep.yaml"
    text = spec.read_text()
    assert 'cron: "0 2 * * *"' in text
    spec.write_text(text.replace('cron: "0 2 * * *"', 'cron: "0 2 29 2 *"'))
    return directory


@pytest.fixture(scope="session")
def churn_registry(churn_app_template: Path) -> Registry:
    """The churn example loaded once per session, as a server's registry. Shared: a test that
    changes the app or writes into its folder loads its own from ``churn_app``."""
    return load_registry([churn_app_template / "doorstep.yaml"])


@pytest.fixture(scope="session")
def churn_loaded_app(churn_registry: Registry) -> LoadedApp:
    """The churn example's loaded app (``churn_registry``'s); shared, so not to be changed."""
    return churn_registry.get("churn")


@pytest.fixture
def churn_app(churn_app_template: Path, tmp_path: Path) -> Path:
    """A private copy of the churn example that a test may edit."""
    target = tmp_path / "churn"
    shutil.copytree(churn_app_template, target)
    return target


# database fixtures (store_url, store, pg_cluster, pg_url): see tests/fixtures_db.py; the
# markers of what a test needs (postgres, browser, services): see tests/markers.py
pytest_plugins = ["pytester", "tests.fixtures_db", "tests.markers"]
