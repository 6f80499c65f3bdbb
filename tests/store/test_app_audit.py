"""An app's audit events by kind: its own subjects only (``app``, ``app/...``, ``app:...``),
kinds by prefix with LIKE's wildcards taken literally, the latest first cut, oldest first
shown. On SQLite and PostgreSQL."""

from __future__ import annotations

from doorstep.store import Store


def test_events_of_one_app_by_kind_prefix(store: Store) -> None:
    store.register_model_version("churn", "v1", "sha256:" + "a" * 64, "maria", actor="t")
    store.append_audit("model.promoted", "churn/v2", {"to": "champion"}, actor="ana")
    store.append_audit("model.promoted", "churn_x/v1", {}, actor="t")  # another app
    store.append_audit("model.promoted", "churnx/v1", {}, actor="t")  # '_' is no wildcard
    store.append_audit("modelXpromoted", "churn", {}, actor="t")
    store.append_audit("alert.raised", "churn:drift.age", {}, actor="t")
    store.append_audit("model.rolled_back", "churn", {"reason": "worse"}, actor="bo")
    found = store.app_audit("churn", kind_prefix="model")
    assert [(e.kind, e.subject) for e in found] == [
        ("model_version.registered", "churn/v1"),
        ("model.promoted", "churn/v2"),
        ("modelXpromoted", "churn"),
        ("model.rolled_back", "churn"),
    ]
    dotted = store.app_audit("churn", kind_prefix="model.")
    assert [e.kind for e in dotted] == ["model.promoted", "model.rolled_back"]
    assert dotted[0].actor == "ana" and dotted[0].payload == {"to": "champion"}
    latest = store.app_audit("churn", kind_prefix="model", limit=2)
    assert [e.kind for e in latest] == ["modelXpromoted", "model.rolled_back"]
    assert [e.subject for e in store.app_audit("churn_x", kind_prefix="model")] == ["churn_x/v1"]
    assert store.app_audit("churn", kind_prefix="alert.")[0].subject == "churn:drift.age"
