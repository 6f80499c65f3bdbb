"""What a test needs besides Python, as markers put on at collection, so that they cannot be
forgotten: ``pytest -m "not postgres and not browser and not services"`` runs every test that
needs no server, and CI runs them all.

- ``postgres``: a PostgreSQL database: the tests of the ``pg_cluster`` and ``pg_url`` fixtures,
  and the ``postgresql`` case of a fixture parametrised over databases (``database``, which
  ``store_url`` and ``store`` use, ``db_url``, ``table_url``).
- ``browser``: Chromium, through the ``browser`` and ``page`` fixtures of
  tests/web/pages/conftest.py.
- ``services``: a server of the machine or an environment of its own: MariaDB (the ``mariadb_*``
  fixtures and the ``mariadb`` case of a parametrised fixture), Redis (``redis_prefix``), Feast's
  environment (``feast_python``), the message brokers of the stream tests (``bus``,
  ``redis_bus``).

A test that reaches one of these in another way (a cluster of its own, a benchmark in a
subprocess, Evidently's environment) carries the marker itself. tests/fixtures_db.py fails a test
that starts or uses PostgreSQL without the ``postgres`` marker. Loaded by tests/conftest.py.
"""

from __future__ import annotations

import pytest

__all__ = ["FIXTURES", "PARAMETERS", "needs"]

FIXTURES = {
    "pg_cluster": "postgres",
    "pg_url": "postgres",
    "browser": "browser",
    "page": "browser",
    "mariadb_server": "services",
    "mariadb_url": "services",
    "redis_prefix": "services",
    "feast_python": "services",
    "bus": "services",  # the message brokers of tests/streams (tests/streams/brokers.py)
    "redis_bus": "services",
}
"""Fixtures, and the marker of every test that uses them (directly or through other fixtures)."""
PARAMETERS = {"postgresql": "postgres", "mariadb": "services"}
"""Values of a parametrised fixture, and the marker of the tests that get them."""


def needs(item: pytest.Item) -> set[str]:
    """The markers ``item`` needs by its fixtures and parameters."""
    names = set(getattr(item, "fixturenames", ()))
    found = {marker for fixture, marker in FIXTURES.items() if fixture in names}
    callspec = getattr(item, "callspec", None)
    if callspec is not None:
        found |= {
            PARAMETERS[value]
            for value in callspec.params.values()
            if isinstance(value, str) and value in PARAMETERS
        }
    return found


@pytest.hookimpl(tryfirst=True)  # before ``-m`` selects by them
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        present = {marker.name for marker in item.iter_markers()}
        for name in sorted(needs(item) - present):
            item.add_marker(name)
