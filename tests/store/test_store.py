"""Every contract method, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from tests.store.factories import decision, request

from doorstep.errors import InputError, NotFoundError, ReviewConflictError, StoreError
from doorstep.store import (
    DecisionQuery,
    RecordOutcome,
    RecordRequest,
    Store,
    StoreContract,
    Verdict,
    open_store,
)


def test_store_implements_the_contract(store: Store) -> None:
    contract: StoreContract = store
    assert contract.dialect in ("sqlite", "postgresql")
    assert store.dialect == sa.make_url(store.url).get_backend_name()


def test_record_and_read_back_every_field(store: Store) -> None:
    record = decision(7, predicted_class="yes", final_action=None, rule=None)
    outcomes = store.record([RecordRequest([record], response=b"{}")], actor="test")
    assert outcomes == [RecordOutcome("recorded", b"{}")]
    assert store.get_decision(record.id) == record
    assert store.get_decision("no-such-id") is None


def test_record_many_requests_in_one_call(store: Store) -> None:
    requests = [request(3), request(1), request(0, app="churn")]
    outcomes = store.record(requests, actor="test")
    assert [o.status for o in outcomes] == ["recorded"] * 3
    page = store.list_decisions(DecisionQuery(app="churn", limit=100))
    assert len(page.items) == 4
    assert store.verify_audit().ok
    assert store.verify_audit().events == 3


def test_reasons_may_be_null_and_scores_keep_precision(store: Store) -> None:
    record = decision(1, reasons=None, reasons_text=None, score=0.1 + 0.2)
    store.record([RecordRequest([record])], actor="test")
    got = store.get_decision(record.id)
    assert got is not None and got.reasons is None and got.score == 0.1 + 0.2


def test_idempotency_same_body_replays_other_body_conflicts(store: Store) -> None:
    first = request(2, idempotency_key="k1", body_sha256="a" * 64, response=b'{"n":1}')
    assert store.record([first], actor="t") == [RecordOutcome("recorded", b'{"n":1}')]
    again = request(2, idempotency_key="k1", body_sha256="a" * 64, response=b"other")
    assert store.record([again], actor="t") == [RecordOutcome("replayed", b'{"n":1}')]
    other = request(2, idempotency_key="k1", body_sha256="b" * 64, response=b"x")
    assert store.record([other], actor="t") == [RecordOutcome("conflict", None)]
    assert len(store.list_decisions(DecisionQuery(app="churn")).items) == 2
    # keys belong to an app: the same key in another app is a new request
    elsewhere = RecordRequest(
        [decision(1, app="loans")], idempotency_key="k1", body_sha256="c" * 64, response=b"l"
    )
    assert store.record([elsewhere], actor="t")[0].status == "recorded"
    assert store.verify_audit().ok


def test_same_key_twice_in_one_batch_replays(store: Store) -> None:
    a = request(1, idempotency_key="k", body_sha256="a" * 64, response=b"1")
    b = request(1, idempotency_key="k", body_sha256="a" * 64, response=b"2")
    assert store.record([a, b], actor="t") == [
        RecordOutcome("recorded", b"1"),
        RecordOutcome("replayed", b"1"),
    ]


def test_one_event_claims_the_keys_together_and_audits_once(store: Store) -> None:
    """A stream's micro-batch: keys claimed in one statement (a key taken before replays or
    conflicts, a key twice in the batch is decided once), one audit event for the batch."""
    taken = request(1, idempotency_key="m-0", body_sha256="a" * 64, response=b"0")
    store.record([taken], actor="t")
    batch = [
        request(1, idempotency_key="m-2", body_sha256="c" * 64, response=b"2"),
        request(1, idempotency_key="m-0", body_sha256="a" * 64, response=b"again"),
        request(1, idempotency_key="m-1", body_sha256="b" * 64, response=b"1"),
        request(1, idempotency_key="m-0", body_sha256="z" * 64, response=b"other"),
        request(1, idempotency_key="m-1", body_sha256="b" * 64, response=b"1 again"),
        RecordRequest([], idempotency_key="m-3", body_sha256="d" * 64, response=b"3", app="churn"),
    ]
    head = store.audit_head()
    assert head is not None
    assert store.record(batch, actor="t", one_event=True) == [
        RecordOutcome("recorded", b"2"),
        RecordOutcome("replayed", b"0"),
        RecordOutcome("recorded", b"1"),
        RecordOutcome("conflict", None),
        RecordOutcome("replayed", b"1"),
        RecordOutcome("recorded", b"3"),
    ]
    assert len(store.list_decisions(DecisionQuery(app="churn")).items) == 3
    after = store.audit_head()
    assert after is not None and after[0] == head[0] + 1
    events = store.app_audit("churn", kind_prefix="decisions.recorded")
    assert events[-1].payload["count"] == 2
    report = store.verify_audit()
    assert report.ok and report.events == 2
    # redelivered whole: nothing decided, nothing audited
    assert [o.status for o in store.record(batch, actor="t", one_event=True)] == [
        "replayed", "replayed", "replayed", "conflict", "replayed", "replayed",
    ]  # fmt: skip
    assert store.audit_head() == after


def test_a_request_without_decisions_still_claims_its_key(store: Store) -> None:
    empty = RecordRequest([], idempotency_key="k", body_sha256="a" * 64, response=b"e", app="x")
    assert store.record([empty], actor="t")[0].status == "recorded"
    assert store.record([empty], actor="t")[0] == RecordOutcome("replayed", b"e")
    assert store.record([], actor="t") == []


def test_list_filters(store: Store) -> None:
    base = datetime(2026, 1, 1, tzinfo=UTC)
    records = [
        decision(1, created_at=base, action="a", status="decided"),
        decision(2, created_at=base + timedelta(hours=1), action="b", status="pending_review"),
        decision(3, created_at=base + timedelta(hours=2), action="a", status="held_out"),
        decision(4, created_at=base + timedelta(hours=3), app="other"),
    ]
    store.record([RecordRequest(records)], actor="t")

    def ids(**kw: object) -> list[str]:
        page = store.list_decisions(DecisionQuery(app="churn", **kw))  # type: ignore[arg-type]
        return [d.entity_id for d in page.items]

    assert ids() == ["C-3", "C-2", "C-1"]
    assert ids(action="a") == ["C-3", "C-1"]
    assert ids(status="pending_review") == ["C-2"]
    assert ids(entity_id="C-1") == ["C-1"]
    assert ids(since=base + timedelta(hours=1)) == ["C-3", "C-2"]
    assert ids(until=base + timedelta(hours=1)) == ["C-1"]


def test_pagination_walks_everything_once_in_order(store: Store) -> None:
    same_time = datetime.now(UTC)
    records = [decision(i, created_at=same_time if i % 2 else datetime.now(UTC)) for i in range(25)]
    store.record([RecordRequest(records)], actor="t")
    seen: list[str] = []
    cursor = None
    while True:
        page = store.list_decisions(DecisionQuery(app="churn", limit=7, cursor=cursor))
        seen.extend(d.id for d in page.items)
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    assert len(seen) == 25 and len(set(seen)) == 25
    expected = sorted(records, key=lambda d: (d.created_at, d.id), reverse=True)
    assert seen == [d.id for d in expected]


def test_a_bad_cursor_is_an_input_error(store: Store) -> None:
    with pytest.raises(InputError, match="cursor"):
        store.list_decisions(DecisionQuery(app="churn", cursor="not-a-cursor"))


def test_review_approve_and_override(store: Store) -> None:
    one, two = decision(1, status="pending_review"), decision(2, status="pending_review")
    store.record([RecordRequest([one, two])], actor="t")
    approved = store.review(Verdict(one.id, "approve", "looks right", "ana"))
    assert (approved.status, approved.final_action) == ("approved", "retention_offer")
    overridden = store.review(Verdict(two.id, "override", "loyal customer", "ana", action="none"))
    assert (overridden.status, overridden.final_action) == ("overridden", "none")
    assert store.get_decision(two.id) == overridden
    assert store.verify_audit().ok


def test_review_conflicts_and_not_found(store: Store) -> None:
    pending, decided = decision(1, status="pending_review"), decision(2)
    store.record([RecordRequest([pending, decided])], actor="t")
    with pytest.raises(NotFoundError):
        store.review(Verdict("missing", "approve", "r", "ana"))
    with pytest.raises(ReviewConflictError):
        store.review(Verdict(decided.id, "approve", "r", "ana"))
    store.review(Verdict(pending.id, "approve", "r", "ana"))
    with pytest.raises(ReviewConflictError):
        store.review(Verdict(pending.id, "override", "r", "bob", action="none"))
    with pytest.raises(StoreError, match="override"):
        other = decision(3, status="pending_review")
        store.record([RecordRequest([other])], actor="t")
        store.review(Verdict(other.id, "override", "r", "bob"))
    assert store.verify_audit().ok


def test_model_versions_register_idempotently(store: Store) -> None:
    store.register_model_version("churn", "v1", "a" * 64, "maria", actor="t")
    store.register_model_version("churn", "v1", "a" * 64, "maria", actor="t")
    store.register_model_version("loans", "2", "b" * 64, "li", actor="t")
    assert store.verify_audit().events == 2
    with pytest.raises(StoreError, match="new version"):
        store.register_model_version("churn", "v1", "c" * 64, "maria", actor="t")
    versions = store.model_versions("churn")
    assert [(v["app"], v["version"], v["stage"], v["owner"]) for v in versions] == [
        ("churn", "v1", "candidate", "maria")
    ]
    assert versions[0]["registered_at"].tzinfo is not None
    assert len(store.model_versions()) == 2


def test_append_audit_returns_consecutive_seqs(store: Store) -> None:
    first = store.append_audit("app.loaded", "churn", {"spec": "x"}, actor="serve")
    second = store.append_audit("app.loaded", "loans", {"spec": "y"}, actor="serve")
    assert second == first + 1
    report = store.verify_audit()
    assert report.ok and report.events == 2 and report.details["head_seq"] == second


def test_ping(store: Store) -> None:
    store.ping()


def test_open_store_defaults(tmp_path: object, monkeypatch: pytest.MonkeyPatch) -> None:
    from pathlib import Path

    assert isinstance(tmp_path, Path)
    monkeypatch.delenv("DOORSTEP_DATABASE_URL", raising=False)
    with open_store(home=tmp_path / "home") as default:
        assert default.dialect == "sqlite"
        assert (tmp_path / "home" / "doorstep.db").exists()
    monkeypatch.setenv("DOORSTEP_DATABASE_URL", f"sqlite:///{tmp_path / 'env.db'}")
    with open_store(home=tmp_path / "unused") as from_env:
        assert from_env.url.endswith("env.db")
    with pytest.raises(StoreError, match="sqlite"):
        open_store("mysql://localhost/x")


def test_sqlite_pragmas(tmp_path: object) -> None:
    from pathlib import Path

    assert isinstance(tmp_path, Path)
    with open_store(f"sqlite:///{tmp_path / 'p.db'}") as opened:
        with opened.engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 2  # FULL
            assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
            assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 5000
