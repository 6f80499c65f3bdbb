"""``--db-pool-size``: the connections a process keeps to the store, as many more for a burst,
and the defaults of ``serve`` (ten shared out among its workers) and ``worker``."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from typer.testing import CliRunner

from doorstep.cli.main import app
from doorstep.cli.serve import serve_pool_size
from doorstep.errors import StoreError
from doorstep.runtime.worker import open_worker
from doorstep.store import Store, open_store
from doorstep.store.engine import create_store_engine
from doorstep.web.settings import ServeSettings


def test_the_pool_keeps_its_size_and_bursts_to_twice_as_many(store_url: str) -> None:
    with open_store(store_url, pool_size=2) as store:
        pool = store.engine.pool
        assert pool.size() == 2  # type: ignore[attr-defined]
        held = [store.engine.connect() for _ in range(4)]  # a burst: two more than kept
        try:
            assert pool.checkedout() == 4  # type: ignore[attr-defined]
            assert pool.overflow() == 2  # type: ignore[attr-defined]
        finally:
            for conn in held:
                conn.close()
        assert pool.checkedin() == 2  # type: ignore[attr-defined]  # the burst's closed


def test_a_fifth_connection_waits_for_one_to_come_back(tmp_path: Path) -> None:
    engine = create_store_engine(f"sqlite:///{tmp_path / 'x.db'}", pool_size=2, busy_timeout=0.2)
    try:
        held = [engine.connect() for _ in range(4)]
        waited = threading.Event()

        def fifth() -> None:
            with engine.connect():
                waited.set()

        thread = threading.Thread(target=fifth)
        thread.start()
        assert not waited.wait(0.1)  # no fifth connection while four are out
        held.pop().close()
        thread.join(5)
        assert waited.is_set()
        for conn in held:
            conn.close()
    finally:
        engine.dispose()


def test_a_pool_of_none_is_refused() -> None:
    with pytest.raises(StoreError, match="The pool size must be at least 1; got 0 instead"):
        create_store_engine("sqlite://", pool_size=0)


@pytest.mark.parametrize(("workers", "size"), [(1, 10), (2, 5), (3, 3), (4, 3), (16, 3)])
def test_serve_shares_ten_connections_among_its_workers_three_at_least(
    workers: int, size: int
) -> None:
    assert serve_pool_size(workers) == size


SPEC = """\
app: {name: churn, owner: maria@example.com}
model: {path: model.txt}
inputs:
  id: customer_id
  fields:
    tenure_months: {type: int}
actions:
  retention_offer:
    connector: crm
    payload: {customer: "{{ entity_id }}"}
connectors:
  crm: {type: webhook, url: "https://crm.example.com/hooks", timeout: 2}
"""


def test_a_worker_opens_the_store_with_its_pool_size(tmp_path: Path) -> None:
    spec = tmp_path / "doorstep.yaml"
    spec.write_text(SPEC)
    url = f"sqlite:///{tmp_path / 'doorstep.db'}"
    with open_worker([spec], url, pool_size=3) as worker:
        assert isinstance(worker.store, Store)
        assert worker.store.engine.pool.size() == 3  # type: ignore[attr-defined]
    result = CliRunner().invoke(
        app, ["worker", str(spec), "--db", url, "--once", "--db-pool-size", "0"]
    )
    assert result.exit_code == 2
    assert "--db-pool-size" in result.stderr


@pytest.mark.parametrize(
    ("args", "size"),
    [([], 10), (["--workers", "4"], 3), (["--workers", "4", "--db-pool-size", "7"], 7)],
)
def test_serve_hands_its_pool_size_to_the_store(
    args: list[str], size: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import doorstep.web.server as server

    seen: list[int] = []

    def opened(_specs: object, _db: object, settings: ServeSettings) -> object:
        seen.append(settings.db_pool_size)
        raise SystemExit(0)

    monkeypatch.setattr(server, "open_server", opened)
    result = CliRunner().invoke(app, ["serve", str(tmp_path), *args])
    assert result.exit_code == 0, result.output
    assert seen == [size]
