"""The monitor inside the server: with ``monitoring.alerts.schedule`` the server judges the
app's window on its own (a ``monitor.run`` audit event appears), unless ``--no-schedules``."""

from __future__ import annotations

import time
from pathlib import Path

import anyio
import pytest
import sqlalchemy as sa
from ruamel.yaml import YAML

from doorstep.services.apps.registry import load_registry
from doorstep.store import Store
from doorstep.store.tables import audit_events
from doorstep.web import ServeSettings, create_app

pytestmark = pytest.mark.anyio


def _runs(store: Store) -> int:
    with store.engine.connect() as conn:
        query = sa.select(sa.func.count()).where(audit_events.c.kind == "monitor.run")
        return int(conn.execute(query).scalar_one())


@pytest.mark.parametrize("schedules", [True, False])
async def test_serve_runs_the_scheduled_monitor(
    churn_app: Path, store: Store, tmp_path: Path, schedules: bool
) -> None:
    path = churn_app / "doorstep.yaml"
    yaml = YAML()
    data = yaml.load(path.read_text())
    data["connectors"]["ops_log"] = {"type": "file", "path": "alerts.jsonl"}
    data["monitoring"]["alerts"] = {
        "connectors": ["ops_log"],
        "schedule": {"cron": "* * * * *"},
        "quality": {"auc": {"alert": 0.6}},
    }
    with path.open("w") as out:
        yaml.dump(data, out)
    settings = ServeSettings(schedules=schedules, home=str(tmp_path / ".doorstep"))
    app = create_app(load_registry([path]), store, settings)
    async with app.router.lifespan_context(app):
        deadline = time.monotonic() + 20
        while schedules and _runs(store) == 0 and time.monotonic() < deadline:
            await anyio.sleep(0.1)
        if not schedules:
            await anyio.sleep(0.5)
    assert (_runs(store) >= 1) if schedules else (_runs(store) == 0)
    assert store.verify_audit().ok
