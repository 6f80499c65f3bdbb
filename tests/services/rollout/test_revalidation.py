"""``governance.revalidate_every`` in the scheduled monitor: the ``governance.revalidation``
alert is raised once the champion has served longer, names the owner, stays open while nothing
changes, and resolves when a new champion is promoted. On SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from tests.services.rollout.test_guard import GUARDED

from doorstep.core.spec.loader import parse_spec
from doorstep.core.spec.models import Spec
from doorstep.services.governance.audit import verify_audit
from doorstep.services.monitor.alerts import run_monitor
from doorstep.services.rollout.revalidation import SUBJECT
from doorstep.store import Store
from doorstep.store.protocols import StageChange


def governed() -> Spec:
    text = GUARDED + "governance: {revalidate_every: 30d}\n"
    return parse_spec(text, file="doorstep.yaml", env={}).spec


def events(result: object) -> list[tuple[str, str]]:
    return [(t.subject, t.event) for t in getattr(result, "transitions", [])]


def test_an_overdue_champion_raises_an_alert_resolved_by_a_new_champion(store: Store) -> None:
    store.register_model_version("churn", "v1", "a" * 64, "m", actor="t", stage="champion")
    store.register_model_version("churn", "v2", "b" * 64, "m", actor="t", stage="candidate")
    start = datetime.now(UTC)
    early = run_monitor(governed(), store, now=start + timedelta(days=29))
    assert next(o for o in early.observations if o.subject == SUBJECT).status == "ok"
    assert events(early) == []
    late = run_monitor(governed(), store, now=start + timedelta(days=31))
    assert events(late) == [(SUBJECT, "alert.raised")]
    text = late.transitions[0].messages[0].message["text"]
    assert "revalidation of champion v1" in text and "revalidation every 30d" in text
    assert "Owner: maria@example.com" in text
    later = run_monitor(governed(), store, now=start + timedelta(days=32))
    assert events(later) == [] and later.open_alerts == {SUBJECT: "alert"}
    store.change_model_stages(
        "churn",
        [StageChange("v1", "retired"), StageChange("v2", "champion")],
        actor="t",
        reason="revalidated and retrained",
        expect=None,
    )
    promoted = run_monitor(governed(), store, now=datetime.now(UTC) + timedelta(days=1))
    assert events(promoted) == [(SUBJECT, "alert.resolved")]
    assert promoted.open_alerts == {}
    assert verify_audit(store).ok


def test_without_revalidate_every_nothing_is_judged(store: Store) -> None:
    store.register_model_version("churn", "v1", "a" * 64, "m", actor="t", stage="champion")
    spec = parse_spec(GUARDED, file="doorstep.yaml", env={}).spec
    found = run_monitor(spec, store, now=datetime.now(UTC) + timedelta(days=400))
    assert all(o.subject != SUBJECT for o in found.observations)
