"""The monitor inside ``serve``: one server at a time runs it (the store's ``monitor`` lease),
once per cron slot; on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import sqlalchemy as sa
from ruamel.yaml import YAML

from doorstep.runtime.monitor_scheduler import MonitorScheduler, latest_monitor_slot
from doorstep.services.apps.loading import load_app
from doorstep.store import Store
from doorstep.store.tables import audit_events

NOW = datetime(2025, 3, 10, 9, 20, tzinfo=UTC)


def monitor_runs(store: Store) -> int:
    with store.engine.connect() as conn:
        kinds = conn.execute(sa.select(audit_events.c.kind)).scalars()
        return sum(1 for k in kinds if k == "monitor.run")


def test_one_holder_runs_each_slot_once(churn_app: Path, store: Store) -> None:
    path = churn_app / "doorstep.yaml"
    yaml = YAML()
    data = yaml.load(path.read_text())
    data["connectors"]["ops_log"] = {"type": "file", "path": "alerts.jsonl"}
    data["monitoring"]["alerts"] = {
        "connectors": ["ops_log"],
        "drift": False,
        "quality": {"auc": {"alert": 0.6}},
        "schedule": {"cron": "15 * * * *"},
    }
    with path.open("w") as out:
        yaml.dump(data, out)
    app = load_app(path)
    first = MonitorScheduler([app], store, holder="a", lease_seconds=60)
    second = MonitorScheduler([app], store, holder="b", lease_seconds=60)
    assert latest_monitor_slot("15 * * * *", "UTC", NOW) == NOW.replace(minute=15)
    assert [r.app for r in first.tick(NOW)] == ["churn"]
    assert second.tick(NOW + timedelta(seconds=5)) == []  # the lease is a's
    assert first.tick(NOW + timedelta(minutes=10)) == []  # the same slot
    assert len(first.tick(NOW + timedelta(hours=1))) == 1  # the next slot
    later = NOW + timedelta(hours=3)  # a stopped: its lease ran out, b takes over
    assert len(second.tick(later)) == 1
    assert monitor_runs(store) == 3
    assert MonitorScheduler([], store).tick(NOW) == []


def test_the_monitor_wakes_on_its_next_slot(churn_app: Path, store: Store) -> None:
    path = churn_app / "doorstep.yaml"
    yaml = YAML()
    data = yaml.load(path.read_text())
    data["connectors"]["ops_log"] = {"type": "file", "path": "alerts.jsonl"}
    data["monitoring"]["alerts"] = {
        "connectors": ["ops_log"],
        "schedule": {"cron": "15,45 * * * *", "timezone": "Europe/Berlin"},
    }
    with path.open("w") as out:
        yaml.dump(data, out)
    monitor = MonitorScheduler([load_app(path)], store, tick_seconds=15)
    assert monitor.seconds_to_next_slot(NOW) == 25 * 60  # 09:20 -> 09:45
    assert monitor.seconds_to_next_slot(NOW.replace(minute=15)) == 30 * 60  # not the slot itself
    assert MonitorScheduler([], store).seconds_to_next_slot(NOW) is None


def _thread_pools() -> tuple[int, str | None]:
    import os

    import polars as pl

    return pl.thread_pool_size(), os.environ.get("OMP_NUM_THREADS")


def _thread_priorities() -> set[tuple[str, int]]:
    """The scheduling class and nice of every thread of this process."""
    import os

    from doorstep.runtime.niced import scheduling_class

    return {
        (scheduling_class(int(t)), os.getpriority(os.PRIO_PROCESS, int(t)))
        for t in os.listdir("/proc/self/task")
    }


def test_runs_in_a_child_process_at_a_lower_priority(churn_app: Path, store: Store) -> None:
    """``serve`` hands each run to one long-lived child process (niced, one thread per pool),
    which opens the store from its URL and loads the app from its spec file; the result is the
    same as in-thread, and the server's own environment is left as it was."""
    import os

    from doorstep.runtime.monitor_process import MonitorProcess
    from doorstep.runtime.niced import scheduling_class

    path = churn_app / "doorstep.yaml"
    yaml = YAML()
    data = yaml.load(path.read_text())
    data["connectors"]["ops_log"] = {"type": "file", "path": "alerts.jsonl"}
    data["monitoring"]["alerts"] = {
        "connectors": ["ops_log"],
        "drift": False,
        "quality": {"auc": {"alert": 0.6}},
        "schedule": {"cron": "15 * * * *"},
    }
    with path.open("w") as out:
        yaml.dump(data, out)
    app = load_app(path)
    environment = os.environ.get("POLARS_MAX_THREADS")
    process = MonitorProcess(
        store.engine.url.render_as_string(hide_password=False), nice=5, idle=True
    )
    try:
        process.warm([app])
        child = process._pool.submit(os.getpid).result()
        assert child != os.getpid()
        assert process._pool.submit(_thread_pools).result() == (1, "1")
        assert os.environ.get("POLARS_MAX_THREADS") == environment
        mine = os.getpriority(os.PRIO_PROCESS, 0)
        assert os.getpriority(os.PRIO_PROCESS, child) == min(mine + 5, 19)
        # every thread of the child, polars' pool included, is niced and in the idle class
        assert process._pool.submit(_thread_priorities).result() == {("idle", min(mine + 5, 19))}
        assert scheduling_class(0) == "normal"  # the server's own threads are left alone
        scheduler = MonitorScheduler([app], store, holder="a", runner=process.run)
        [result] = scheduler.tick(NOW)
        in_thread = MonitorScheduler([app], store, holder="a").run_app(app, NOW, "t")
    finally:
        process.close()
    assert result.app == "churn" and result.window == in_thread.window
    assert [o.as_dict() for o in result.observations] == [
        o.as_dict() for o in in_thread.observations
    ]
    assert monitor_runs(store) == 2
