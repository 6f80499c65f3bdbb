"""Alerts end to end on a real store (SQLite and PostgreSQL) and a real webhook receiver that
verifies Standard Webhooks signatures: the churn example decided day by day with two features
drifted on two days. One message per breach, one when it clears, nothing doubled when the
monitor runs again; the retraining hook fires once on sustained drift; the audit chain holds."""

from __future__ import annotations

import base64
import json
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pytest
import sqlalchemy as sa
from ruamel.yaml import YAML
from tests.connectors.receivers import Receiver

from doorstep.examples.churn import generate_customers
from doorstep.ids import new_id
from doorstep.services.apps.loading import LoadedApp, load_app
from doorstep.services.deliver.connectors import open_app_connectors
from doorstep.services.deliver.dispatcher import Dispatcher
from doorstep.services.monitor.alerts import EXIT_ALERT, run_monitor
from doorstep.services.monitor.drift import reference_profile
from doorstep.store import RecordRequest, Store
from doorstep.store.tables import audit_events
from doorstep.types import Decision, DecisionStatus

SECRET = "whsec_" + base64.b64encode(b"alerts-secret-of-thirty-two-b!!!").decode()
START = datetime(2025, 3, 3, tzinfo=UTC)
PER_DAY = 400
DRIFTED_DAYS = (3, 4)
DRIFTED = {"drift.monthly_spend", "drift.days_since_last_login"}


def write_spec(root: Path, alerts: dict[str, Any], url: str) -> Path:
    path = root / "doorstep.yaml"
    yaml = YAML()
    data = yaml.load(path.read_text())
    data["connectors"]["ops"] = {
        "type": "webhook",
        "url": url,
        "secret": SECRET,
        "allow_networks": ["127.0.0.1/32"],
        "retry": {"delays": []},
    }
    data["connectors"]["ops_log"] = {"type": "file", "path": "alerts.jsonl"}
    data["monitoring"]["drift"] = {"min_rows": 300}
    data["monitoring"]["alerts"] = alerts
    with path.open("w") as out:
        yaml.dump(data, out)
    return path


def decide_days(app: LoadedApp, store: Store, days: int = 6) -> None:
    fields = list(app.spec.feature_fields)
    rng = np.random.default_rng(5)
    for day in range(days):
        customers = generate_customers(PER_DAY, seed=200 + day, start_id=1 + day * PER_DAY)
        if day in DRIFTED_DAYS:
            customers = customers.with_columns(
                (pl.col("monthly_spend") * 1.5).round(2), pl.col("days_since_last_login") + 10
            )
        minutes = np.sort(rng.integers(0, 24 * 60, PER_DAY))
        scores = app.model.predict(customers.select(fields))
        rows = customers.select(["customer_id", *fields]).to_dicts()
        store.record(
            [
                RecordRequest(
                    [
                        Decision(
                            id=new_id(),
                            app="churn",
                            entity_id=str(row.pop("customer_id")),
                            model_version=app.model_version,
                            model_hash="ab" * 32,
                            inputs=row,
                            score=float(scores[i]),
                            action="none",
                            rule=None,
                            review=False,
                            control=False,
                            status=DecisionStatus.DECIDED,
                            reasons=None,
                            reasons_text=None,
                            created_at=START + timedelta(days=day, minutes=int(minutes[i])),
                        )
                        for i, row in enumerate(rows)
                    ]
                )
            ],
            actor="test",
        )


def audit_kinds(store: Store) -> list[str]:
    with store.engine.connect() as conn:
        return list(conn.execute(sa.select(audit_events.c.kind)).scalars())


def on_day(day: int) -> datetime:
    """A moment in ``day``: the monitor then judges the day before (the latest complete)."""
    return START + timedelta(days=day, hours=1)


@pytest.mark.slow
def test_one_message_per_breach_then_resolved_and_nothing_doubled(
    churn_app: Path, store: Store
) -> None:
    with Receiver(secrets=[SECRET]) as receiver:
        alerts = {"connectors": ["ops", "ops_log"], "quality": {"auc": {"alert": 0.5}}}
        app = load_app(write_spec(churn_app, alerts, receiver.url("/alerts")))
        decide_days(app, store)
        profile = reference_profile(app)

        def monitor(day: int) -> Any:
            return run_monitor(
                app.spec,
                store,
                profile=profile,
                now=on_day(day),
                public_url="https://doorstep.example.com",
                root=churn_app,
            )

        quiet = monitor(1)  # judges day 0: nothing drifted
        # 400 decisions a day: sampling noise may warn (level: alert raises only alerts)
        assert quiet.status != "alert" and quiet.transitions == [] and quiet.exit_code < EXIT_ALERT
        raised = monitor(4)  # judges day 3, the first drifted day
        assert {t.subject for t in raised.transitions} == DRIFTED
        assert {t.event for t in raised.transitions} == {"alert.raised"}
        assert raised.exit_code == EXIT_ALERT and set(raised.open_alerts) == DRIFTED
        quality = [o for o in raised.observations if o.subject == "quality.auc"]
        assert quality[0].status == "insufficient_data"  # no outcomes: nothing concluded
        assert monitor(4).transitions == []  # the same window again
        assert monitor(5).transitions == []  # day 4 is still in alert: the breach stays open
        resolved = monitor(6)  # day 5 is back to normal
        assert {t.subject for t in resolved.transitions} == DRIFTED
        assert {t.event for t in resolved.transitions} == {"alert.resolved"}
        assert resolved.open_alerts == {} and resolved.exit_code < EXIT_ALERT
        assert monitor(6).transitions == []

        with Dispatcher(store, [open_app_connectors(app)]) as dispatcher:
            sent = dispatcher.drain()
            assert len(sent) == 8 and {r.state for r in sent} == {"delivered"}
            assert monitor(6).transitions == [] and dispatcher.drain() == []
        hooks = receiver.requests
    assert len(hooks) == 4 and all(h.verified_with == (SECRET,) for h in hooks)
    ids = [h.headers["webhook-id"] for h in hooks]
    assert len(set(ids)) == 4 and all(i.startswith("alert:") for i in ids)
    bodies = [h.json() for h in hooks]
    assert sorted(b["type"] for b in bodies) == ["alert.raised"] * 2 + ["alert.resolved"] * 2
    spend = next(
        b for b in bodies if b["type"] == "alert.raised" and b["data"]["name"] == "monthly_spend"
    )
    data = spend["data"]
    assert data["level"] == "alert" and data["statistic"] == "psi"
    assert data["value"] >= data["threshold"] == 0.25
    assert data["window"]["start"].startswith("2025-03-06") and data["count"] == PER_DAY
    assert data["report_url"] == "https://doorstep.example.com/apps/churn"
    assert data["text"].startswith("ALERT churn: drift of ")
    assert (
        "PSI" in data["text"] and "Report: https://doorstep.example.com/apps/churn" in data["text"]
    )
    logged = [json.loads(line) for line in (churn_app / "alerts.jsonl").read_text().splitlines()]
    assert len(logged) == 4

    report = store.verify_audit()
    assert report.ok, report
    kinds = audit_kinds(store)
    assert kinds.count("alert.raised") == 2 and kinds.count("alert.resolved") == 2
    assert kinds.count("monitor.run") == 7


@pytest.mark.slow
def test_sustained_drift_runs_the_retraining_command_once(churn_app: Path, store: Store) -> None:
    script = (
        "import os, pathlib; p = pathlib.Path('retrained.jsonl'); "
        "p.open('a').write(os.environ['DOORSTEP_RETRAIN_EVENT'] + '\\n')"
    )
    alerts = {
        "connectors": ["ops_log"],
        "retrain": {"command": [sys.executable, "-c", script], "after": 2, "on": ["drift"]},
    }
    app = load_app(write_spec(churn_app, alerts, "http://127.0.0.1:9/unused"))
    decide_days(app, store)
    profile = reference_profile(app)

    def monitor(day: int) -> Any:
        return run_monitor(app.spec, store, profile=profile, now=on_day(day), root=churn_app)

    assert monitor(4).retrain is None  # one window in alert: not sustained yet
    sustained = monitor(5)  # the second drifted day in a row
    assert sustained.retrain is not None and sustained.retrain.returncode == 0
    assert monitor(5).retrain is None  # once per episode
    events = (churn_app / "retrained.jsonl").read_text().splitlines()
    assert len(events) == 1
    event = json.loads(events[0])
    assert event["type"] == "retrain.requested"
    assert {s["subject"] for s in event["data"]["sustained"]} == DRIFTED
    monitor(6)  # cleared: the hook is re-armed for the next episode
    kinds = audit_kinds(store)
    assert kinds.count("retrain.requested") == 1 and kinds.count("retrain.command") == 1
    assert kinds.count("retrain.rearmed") == 1
    assert store.verify_audit().ok


@pytest.mark.slow
def test_sustained_drift_calls_the_retraining_webhook_once(churn_app: Path, store: Store) -> None:
    with Receiver(secrets=[SECRET]) as receiver:
        alerts = {
            "connectors": ["ops_log"],
            "retrain": {"webhook": "ops", "after": 2, "on": ["drift"]},
        }
        app = load_app(write_spec(churn_app, alerts, receiver.url("/retrain")))
        decide_days(app, store)
        profile = reference_profile(app)
        with Dispatcher(store, [open_app_connectors(app)]) as dispatcher:
            for day in (4, 5, 5, 6):
                run_monitor(app.spec, store, profile=profile, now=on_day(day), root=churn_app)
                dispatcher.drain()
        hooks = receiver.requests
    assert len(hooks) == 1 and hooks[0].verified_with == (SECRET,)
    body = hooks[0].json()
    assert body["type"] == "retrain.requested" and body["data"]["after"] == 2
    assert hooks[0].headers["webhook-id"] == f"retrain:{body['data']['retrain_id']}:ops"
    assert {s["subject"] for s in body["data"]["sustained"]} == DRIFTED
