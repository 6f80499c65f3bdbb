"""What a test needs is marked (tests/markers.py), and a test that uses PostgreSQL unmarked
fails (tests/fixtures_db.py), so that ``-m "not postgres and not browser and not services"``
never needs a server."""

from __future__ import annotations

import textwrap

import pytest
from tests.fixtures_db import PostgresCluster
from tests.markers import needs

UNMARKED = "uses PostgreSQL but is not marked postgres"


def test_an_unmarked_test_starts_no_postgresql_cluster() -> None:
    try:
        cluster = PostgresCluster.start()
    except pytest.fail.Exception as failed:
        assert UNMARKED in str(failed)
    else:
        cluster.stop()
        pytest.fail("a test not marked postgres started a PostgreSQL cluster")


def test_an_unmarked_test_gets_no_postgresql_database(request: pytest.FixtureRequest) -> None:
    with pytest.raises(pytest.fail.Exception, match=UNMARKED):
        request.getfixturevalue("pg_url")  # as a parametrised fixture asks for it


def test_every_collected_test_carries_the_markers_its_fixtures_need(
    request: pytest.FixtureRequest,
) -> None:
    unmarked = {
        item.nodeid: missing
        for item in request.session.items
        if (missing := needs(item) - {m.name for m in item.iter_markers()})
    }
    assert not unmarked


def test_markers_follow_fixtures_and_parameters(pytester: pytest.Pytester) -> None:
    pytester.makeini("[pytest]\nmarkers =\n    postgres\n    browser\n    services\n")
    pytester.makeconftest(
        textwrap.dedent(
            """
            import pytest

            @pytest.fixture
            def browser(): ...

            @pytest.fixture(params=["sqlite", "mariadb"])
            def db_url(request): ...
            """
        )
    )
    pytester.makepyfile(
        test_needs=textwrap.dedent(
            """
            import pytest

            def test_plain(): ...
            def test_database(store_url): ...
            def test_cluster(pg_url): ...
            def test_chromium(browser): ...
            def test_connector(db_url): ...
            @pytest.mark.parametrize("database", ["sqlite"], indirect=True)
            def test_sqlite_only(store): ...
            """
        )
    )
    items, _ = pytester.inline_genitems("-p", "tests.fixtures_db", "-p", "tests.markers")
    marked = {item.name: sorted(m.name for m in item.iter_markers()) for item in items}
    assert marked == {
        "test_plain": [],
        "test_database[sqlite]": [],
        "test_database[postgresql]": ["postgres"],
        "test_cluster": ["postgres"],
        "test_chromium": ["browser"],
        "test_connector[sqlite]": [],
        "test_connector[mariadb]": ["services"],
        "test_sqlite_only[sqlite]": ["parametrize"],
    }
