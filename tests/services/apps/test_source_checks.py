"""Feature sources are probed by ``doorstep validate`` and at ``serve``'s start-up: a source
that can never work is a problem of the spec, located at its key; one that cannot be reached
now is a warning, and ``serve`` starts (answering 503 for it until it answers)."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
import sqlalchemy as sa

from doorstep.errors import SpecError
from doorstep.services.apps.checks import check_app
from doorstep.store import Store
from doorstep.web.factory import build_app
from doorstep.web.settings import ServeSettings

pytestmark = pytest.mark.slow
URL_LINE = 'url: "${FEATURES_DB_URL:-sqlite:///features.db}"'


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def edit(app: Path, old: str, new: str) -> Path:
    spec = app / "doorstep.yaml"
    text = spec.read_text()
    assert old in text
    spec.write_text(text.replace(old, new, 1))
    return spec


def line_of(spec: Path, text: str) -> int:
    return next(n for n, line in enumerate(spec.read_text().splitlines(), 1) if text in line)


def test_a_missing_table_fails_validate_at_its_line(churn_app: Path) -> None:
    spec = edit(churn_app, "table: customer_features", "table: no_such_table")
    with pytest.raises(SpecError) as info:
        check_app(spec)
    [issue] = info.value.issues
    assert (issue.key, issue.line) == ("features.customer_db.table", line_of(spec, "no_such_"))
    assert "the database refuses the lookup" in issue.message
    assert "no such table: no_such_table" in issue.message
    assert "check the table, 'key', 'columns' and 'observed_at'" in issue.message


def test_a_url_without_an_installed_driver_fails_validate(churn_app: Path) -> None:
    spec = edit(churn_app, URL_LINE, 'url: "mysql://app@127.0.0.1/app"')
    with pytest.raises(SpecError) as info:
        check_app(spec)
    [issue] = info.value.issues
    assert issue.key == "features.customer_db.url" and issue.line == line_of(spec, "mysql://")
    assert "the driver 'mysql' is not installed" in issue.message
    assert "pip install" in issue.message


def test_a_host_that_does_not_exist_fails_validate(churn_app: Path) -> None:
    spec = edit(churn_app, URL_LINE, 'url: "postgresql+psycopg://app@no-such-host.invalid/app"')
    with pytest.raises(SpecError) as info:
        check_app(spec)
    [issue] = info.value.issues
    assert issue.key == "features.customer_db.url"
    assert "the host 'no-such-host.invalid' does not exist" in issue.message


def test_a_missing_sqlite_file_fails_validate_and_is_not_created(churn_app: Path) -> None:
    spec = edit(churn_app, URL_LINE, 'url: "sqlite:///nowhere.db"')
    with pytest.raises(SpecError, match="the SQLite file .*nowhere.db does not exist"):
        check_app(spec)
    assert not (churn_app / "nowhere.db").exists()


def test_a_missing_column_fails_validate(pg_url: str, churn_app: Path) -> None:
    engine = sa.create_engine(pg_url)
    with engine.begin() as conn:
        conn.execute(sa.text("CREATE TABLE customer_features (customer_id TEXT, plan TEXT)"))
    engine.dispose()
    spec = edit(churn_app, URL_LINE, f'url: "{pg_url}"')
    with pytest.raises(SpecError) as info:
        check_app(spec)
    [issue] = info.value.issues
    assert issue.key == "features.customer_db.table"
    assert "does not exist" in issue.message and "column" in issue.message


def test_a_database_down_now_is_a_warning_and_serve_starts(churn_app: Path, store: Store) -> None:
    url = f"postgresql+psycopg://app:s3cret-pw@127.0.0.1:{free_port()}/app"
    spec = edit(churn_app, URL_LINE, f'url: "{url}"')
    app = check_app(spec)
    [warning] = [w for w in app.warnings if "customer_db" in w]
    assert warning.startswith(f"{spec}:{line_of(spec, 'customer_db:')} features.customer_db:")
    assert "cannot be reached now: serve starts and answers 503" in warning
    assert "s3cret-pw" not in warning
    api = build_app([spec], store, ServeSettings())
    assert api.state.warnings == (warning,)
    api.state.service.features["churn"].close()


def test_serve_does_not_start_with_a_source_that_can_never_work(
    churn_app: Path, store: Store
) -> None:
    spec = edit(churn_app, "table: customer_features", "table: no_such_table")
    with pytest.raises(SpecError, match="features.customer_db.table"):
        build_app([spec], store, ServeSettings())
