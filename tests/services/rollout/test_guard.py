"""The canary guard in a monitor run, on a real store: a canary clearly worse than the champion
is stopped by ``doorstep monitor`` with the numbers as its reason and raises the
``canary.quality`` alert (naming the owner), which resolves once no canary runs; a canary as
good as the champion keeps running. On SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
from tests.services.rollout.test_compare import SPEC, _decision

from doorstep.core.spec.loader import parse_spec
from doorstep.core.spec.models import Spec
from doorstep.services.governance.audit import verify_audit
from doorstep.services.monitor.alerts import run_monitor
from doorstep.services.outcomes.ingest import record_outcomes
from doorstep.services.rollout import stages
from doorstep.services.rollout.guard import SUBJECT
from doorstep.store import RecordRequest, Store

GUARDED = SPEC + (
    "  alerts:\n"
    "    connectors: [ops]\n"
    "    drift: false\n"
    "    canary: {margin: 0.02, min_labelled: 100}\n"
    "connectors:\n"
    "  ops: {type: file, path: alerts.jsonl}\n"
)


def guarded() -> Spec:
    return parse_spec(GUARDED, file="doorstep.yaml", env={}).spec


def canary_running(store: Store, *, noise: float, seed: int, n: int = 900) -> datetime:
    """v1 the champion, v2 a canary deciding every third customer, started now; decisions over
    the next five days, v1 scoring churn with noise 0.1 and v2 with ``noise``; outcomes three
    days after each. Returns when to judge."""
    store.register_model_version("churn", "v1", "a" * 64, "m", actor="t", stage="champion")
    store.register_model_version("churn", "v2", "b" * 64, "m", actor="t", stage="candidate")
    stages.start_canary(store, "churn", "v2", 0.3, caller=stages.Caller("cli:ops"), reason="try")
    start = datetime.now(UTC) + timedelta(seconds=1)
    rng = np.random.default_rng(seed)
    truth = rng.beta(2, 3, n)
    churned = rng.random(n) < truth
    by_v2 = np.arange(n) % 3 == 0
    scores = np.clip(truth + rng.normal(0, 1, n) * np.where(by_v2, noise, 0.1), 0, 1)
    at = [start + timedelta(minutes=int(m)) for m in rng.integers(0, 5 * 24 * 60, n)]
    made = [
        _decision(i, "v2" if by_v2[i] else "v1", float(scores[i]), False, at[i]) for i in range(n)
    ]
    store.record([RecordRequest(made)], actor="test")
    outcomes = [
        {"customer_id": f"C-{i}", "churned": int(churned[i]),
         "observed_at": (at[i] + timedelta(days=3)).isoformat()}
        for i in range(n)
    ]  # fmt: skip
    now = start + timedelta(days=9)
    _, errors = record_outcomes(guarded(), store, outcomes, actor="test", now=now)
    assert errors == []
    return now


def test_a_clearly_worse_canary_is_stopped_and_alerted(store: Store) -> None:
    now = canary_running(store, noise=0.6, seed=4)
    result = run_monitor(guarded(), store, now=now)
    judged = next(o for o in result.observations if o.subject == SUBJECT)
    assert judged.status == "alert" and judged.value is not None and judged.value < -0.02
    assert judged.checks[-1] == "canary v2 stopped"
    stage = {r["version"]: r["stage"] for r in store.model_versions("churn")}
    assert stage == {"v1": "champion", "v2": "candidate"}
    last = store.model_stage_history("churn")[-1]
    assert last["actor"] == "doorstep monitor"
    assert "stopped by the monitor: AUC of canary v2 minus champion v1" in last["reason"]
    assert "decisions with an outcome: champion 600, canary 300" in last["reason"]
    raised = next(t for t in result.transitions if t.subject == SUBJECT)
    assert raised.event == "alert.raised"
    text = raised.messages[0].message["text"]
    assert "quality of canary v2 against champion v1" in text
    assert "Owner: maria@example.com" in text
    assert result.open_alerts == {SUBJECT: "alert"}
    # the next run finds no canary: the alert resolves, nothing more is stopped
    changes = len(store.model_stage_history("churn"))
    again = run_monitor(guarded(), store, now=now + timedelta(hours=1))
    assert [(t.subject, t.event) for t in again.transitions] == [(SUBJECT, "alert.resolved")]
    assert len(store.model_stage_history("churn")) == changes
    assert verify_audit(store).ok


def test_a_canary_as_good_as_the_champion_keeps_running(store: Store) -> None:
    now = canary_running(store, noise=0.1, seed=5)
    result = run_monitor(guarded(), store, now=now)
    judged = next(o for o in result.observations if o.subject == SUBJECT)
    assert judged.status == "ok" and judged.count >= 100
    assert {r["version"]: r["stage"] for r in store.model_versions("churn")}["v2"] == "canary"
    assert result.open_alerts == {}


def test_too_few_outcomes_judge_nothing_and_without_alert_nothing_stops(store: Store) -> None:
    now = canary_running(store, noise=0.6, seed=6)
    few = parse_spec(GUARDED.replace("min_labelled: 100", "min_labelled: 5000"), env={}).spec
    judged = next(o for o in run_monitor(few, store, now=now).observations if o.subject == SUBJECT)
    assert judged.status == "insufficient_data"
    looked = run_monitor(guarded(), store, now=now, alert=False)
    assert next(o for o in looked.observations if o.subject == SUBJECT).status == "alert"
    assert {r["version"]: r["stage"] for r in store.model_versions("churn")}["v2"] == "canary"
