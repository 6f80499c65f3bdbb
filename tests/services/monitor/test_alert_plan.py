"""Alert transitions, pure: raised once, escalated once, resolved once; too little data changes
nothing; quality metrics breach in their own direction; the retraining hook fires once."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from doorstep.core.spec.alerts import AlertsSpec
from doorstep.services.monitor.alert_messages import Observation
from doorstep.services.monitor.alert_observations import observe
from doorstep.services.monitor.alerts import plan_transitions
from doorstep.store.alerts import AlertState
from doorstep.types import (
    Counts,
    Interval,
    MonitoringReport,
    OutcomeDescription,
    Overrides,
    OverrideWindow,
    QualityReport,
    QualitySection,
    QualityWindow,
    RoiUnavailable,
    Status,
)

NOW = datetime(2025, 3, 10, 1, tzinfo=UTC)
START = datetime(2025, 3, 9, tzinfo=UTC)


def obs(status: Status, *, subject: str = "drift.plan", streak: int = 0) -> Observation:
    return Observation(
        subject=subject,
        kind=subject.split(".")[0],
        name=subject.split(".")[1],
        label="Plan",
        status=status,
        statistic="psi",
        value=0.3,
        threshold=0.25,
        checks=("PSI 0.3 >= 0.25 (alert)",),
        window="day",
        start=START,
        end=NOW,
        count=1_000,
        streak=streak,
    )


def state(status: str, *, version: int = 1, subject: str = "drift.plan") -> AlertState:
    return AlertState(
        app="churn",
        subject=subject,
        kind="drift",
        status=status,
        breach_id=None if status == "ok" else "b-1",
        version=version,
        opened_at=START if status != "ok" else None,
        updated_at=START,
        window_start=START,
        value=0.3,
        threshold=0.25,
        retrain_at=None,
        detail=None,
    )


def plan(alerts: AlertsSpec, observed: list[Observation], states: dict[str, AlertState]) -> Any:
    return plan_transitions("churn", alerts, observed, states, now=NOW, public_url=None)


def test_raise_escalate_resolve_once_each() -> None:
    alerts = AlertsSpec(connectors=["ops", "ops", "mail"], level="warn")
    raised = plan(alerts, [obs("warn")], {})
    assert [t.event for t in raised] == ["alert.raised"]
    assert raised[0].expected_version is None
    keys = [m.key for m in raised[0].messages]
    breach = raised[0].values["breach_id"]
    assert keys == [f"alert:{breach}:raised:ops", f"alert:{breach}:raised:mail"]
    assert raised[0].messages[0].message["text"].startswith("WARN churn: drift of Plan")
    assert plan(alerts, [obs("warn")], {"drift.plan": state("warn")}) == []
    escalated = plan(alerts, [obs("alert")], {"drift.plan": state("warn", version=4)})
    assert [(t.event, t.expected_version) for t in escalated] == [("alert.escalated", 4)]
    assert escalated[0].messages[0].key == "alert:b-1:escalated:ops"
    # a breach never steps down while open: no second escalation can follow
    assert plan(alerts, [obs("warn")], {"drift.plan": state("alert")}) == []
    resolved = plan(alerts, [obs("ok")], {"drift.plan": state("alert")})
    assert [t.event for t in resolved] == ["alert.resolved"]
    assert resolved[0].values["breach_id"] is None
    assert resolved[0].messages[0].message["text"].startswith("RESOLVED churn")


def test_level_alert_ignores_warnings_and_too_little_data_changes_nothing() -> None:
    alerts = AlertsSpec(connectors=["ops"])
    assert plan(alerts, [obs("warn")], {}) == []
    assert plan(alerts, [obs("insufficient_data")], {"drift.plan": state("alert")}) == []
    assert plan(alerts, [obs("insufficient_data")], {}) == []


def test_retrain_fires_once_per_episode_and_rearms() -> None:
    alerts = AlertsSpec.model_validate(
        {"connectors": ["ops"], "retrain": {"webhook": "ci", "after": 2}}
    )
    first = plan(alerts, [obs("alert", streak=1)], {})
    assert [t.event for t in first] == ["alert.raised"]
    open_ = {"drift.plan": state("alert")}
    fired = plan(alerts, [obs("alert", streak=2)], open_)
    assert [t.event for t in fired] == ["retrain.requested"]
    assert fired[0].messages[0].connector == "ci"
    assert fired[0].messages[0].message["payload"]["type"] == "retrain.requested"
    done = {**open_, "retrain": state("alert", subject="retrain")}
    assert plan(alerts, [obs("alert", streak=3)], done) == []
    cleared = plan(alerts, [obs("ok")], done)
    assert [t.event for t in cleared] == ["alert.resolved", "retrain.rearmed"]


def quality_report(*, labelled: int, reviewed: int, overridden: int) -> MonitoringReport:
    """A report of one day whose only content is what the quality alerts judge."""
    quality = QualityReport(
        task="binary",
        labelled=labelled,
        enough=True,
        metrics={"auc": Interval(0.64, None, None), "brier": Interval(0.2, None, None)},
    )
    reviews = OverrideWindow(
        START, NOW, reviewed, overridden, 0, override_rate=Interval.empty(), judgement=None
    )
    return MonitoringReport(
        app="churn",
        window="day",
        since=START,
        until=NOW,
        generated_at=NOW,
        outcome=OutcomeDescription("label", "churned", "1", "0", "decrease", 86_400.0),
        counts=Counts(labelled, labelled, 0, 0, labelled, {}, 0, {}),
        quality=QualitySection("all", None, quality, (QualityWindow(START, NOW, quality),)),
        overrides=Overrides(reviewed, overridden, 0, Interval.empty(), None, (reviews,)),
        roi=RoiUnavailable("not measured here"),
        drift=None,
    )


def test_quality_metrics_breach_in_their_direction() -> None:
    alerts = AlertsSpec.model_validate(
        {
            "connectors": ["ops"],
            "quality": {
                "auc": {"warn": 0.72, "alert": 0.65},
                "brier": {"alert": 0.25},
                "override_rate": {"warn": 0.3, "alert": 0.5},
                "min_labelled": 40,
            },
        }
    )
    from doorstep.core.spec.loader import parse_spec

    spec = parse_spec(
        "app: {name: churn, owner: o}\nmodel: {path: m.txt}\n"
        "inputs: {id: customer_id, fields: {x: {type: int}}}\n",
        env={},
    ).spec
    report = quality_report(labelled=120, reviewed=50, overridden=20)
    found = {o.subject: o for o in observe(spec, alerts, report)}
    assert found["quality.auc"].status == "alert"
    assert found["quality.auc"].checks == ("AUC 0.64 <= 0.65 (alert)",)
    assert found["quality.brier"].status == "ok"
    assert found["quality.override_rate"].status == "warn"  # 20 of 50 reviewed: 0.4
    report = quality_report(labelled=30, reviewed=50, overridden=20)  # fewer than min_labelled
    found = {o.subject: o for o in observe(spec, alerts, report)}
    assert found["quality.auc"].status == "insufficient_data"
    report = quality_report(labelled=30, reviewed=100, overridden=60)
    found = {o.subject: o for o in observe(spec, alerts, report)}
    assert (
        found["quality.override_rate"].status == "alert"
        and found["quality.override_rate"].value == 0.6
    )


def test_every_message_names_the_owner() -> None:
    alerts = AlertsSpec.model_validate(
        {"connectors": ["ops"], "retrain": {"webhook": "ci", "after": 1}}
    )
    planned = plan_transitions(
        "churn",
        alerts,
        [obs("alert", streak=1)],
        {},
        now=NOW,
        public_url=None,
        owner="maria@example.com",
    )
    assert [t.event for t in planned] == ["alert.raised", "retrain.requested"]
    for change in planned:
        message = change.messages[0].message
        assert "\nOwner: maria@example.com" in message["text"]
        assert message["payload"]["data"]["owner"] == "maria@example.com"
        assert message["context"]["owner"] == "maria@example.com"  # the e-mail's default
    resolved = plan_transitions(
        "churn", alerts, [obs("ok")], {"drift.plan": state("alert")}, now=NOW, public_url=None,
        owner="maria@example.com",
    )  # fmt: skip
    assert "Owner: maria@example.com" in resolved[0].messages[0].message["text"]
    assert "Owner:" not in plan(alerts, [obs("alert")], {})[0].messages[0].message["text"]
