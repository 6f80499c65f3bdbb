"""The audit chain catches each kind of tampering, done with raw SQL behind the store's back."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
import sqlalchemy as sa
from tests.store.factories import decision

from doorstep.ids import new_id
from doorstep.store import RecordRequest, Store, Verdict
from doorstep.store.audit import GENESIS, event_hash
from doorstep.store.keys import hash_secret
from doorstep.store.tables import api_keys, audit_events, decisions, model_versions, reviews


@dataclass
class Trail:
    store: Store
    batch: list[str]  # ids recorded by event 2
    pair: list[str]  # ids recorded by event 3 (the second is reviewed by event 4)
    single: str  # id recorded by event 5

    def sql(self, statement: sa.Executable, params: dict[str, object] | None = None) -> None:
        with self.store.engine.begin() as conn:
            if conn.dialect.name == "sqlite":
                conn.exec_driver_sql("PRAGMA foreign_keys = OFF")
            conn.execute(statement, params or {})

    def report(self) -> tuple[str | None, int | None]:
        result = self.store.verify_audit()
        assert not result.ok
        return result.problem, result.first_bad_seq


@pytest.fixture
def trail(store: Store) -> Trail:
    store.create_key("crm", "client", actor="admin")  # 1
    batch = [decision(i) for i in range(3)]
    store.record([RecordRequest(batch)], actor="crm")  # 2
    pair = [decision(10), decision(11, status="pending_review")]
    store.record([RecordRequest(pair)], actor="crm")  # 3
    store.review(Verdict(pair[1].id, "approve", "fine", "ana"))  # 4
    single = decision(20)
    store.record([RecordRequest([single])], actor="crm")  # 5
    store.register_model_version("churn", "v1", "a" * 64, "maria", actor="serve")  # 6
    report = store.verify_audit()
    assert report.ok and report.events == 6
    return Trail(store, [d.id for d in batch], [d.id for d in pair], single.id)


def test_an_untouched_chain_verifies_in_small_pages(trail: Trail) -> None:
    assert trail.store.verify_audit(page_size=2).ok


def test_edited_event(trail: Trail) -> None:
    trail.sql(audit_events.update().where(audit_events.c.seq == 3).values(actor="mallory"))
    assert trail.report() == ("edited", 3)


def test_edited_decision_row(trail: Trail) -> None:
    trail.sql(decisions.update().where(decisions.c.id == trail.batch[1]).values(score=0.99))
    assert trail.report() == ("edited", 2)


def test_edited_decision_inputs(trail: Trail) -> None:
    trail.sql(decisions.update().where(decisions.c.id == trail.single).values(inputs={"tenure": 1}))
    assert trail.report() == ("edited", 5)


def test_edited_review_row(trail: Trail) -> None:
    trail.sql(reviews.update().values(reason="changed my mind"))
    assert trail.report() == ("edited", 4)


def test_edited_decision_status_without_a_review(trail: Trail) -> None:
    trail.sql(decisions.update().where(decisions.c.id == trail.pair[0]).values(status="approved"))
    assert trail.report() == ("edited", 3)


def test_edited_final_action_after_review(trail: Trail) -> None:
    trail.sql(decisions.update().where(decisions.c.id == trail.pair[1]).values(final_action="call"))
    assert trail.report() == ("edited", 4)


def test_deleted_decision_row(trail: Trail) -> None:
    trail.sql(decisions.delete().where(decisions.c.id == trail.batch[0]))
    assert trail.report() == ("deleted", 2)


def test_deleted_event(trail: Trail) -> None:
    trail.sql(audit_events.delete().where(audit_events.c.seq == 3))
    assert trail.report() == ("deleted", 3)


def test_deleted_event_with_renumbering(trail: Trail) -> None:
    trail.sql(audit_events.delete().where(audit_events.c.seq == 1))
    for seq in range(2, 7):
        trail.sql(audit_events.update().where(audit_events.c.seq == seq).values(seq=seq - 1))
    assert trail.report() == ("deleted", 1)


def test_deleted_newest_event_leaves_orphan_rows(trail: Trail) -> None:
    trail.sql(audit_events.delete().where(audit_events.c.seq >= 5))
    problem, seq = trail.report()
    assert (problem, seq) == ("deleted", 5)


def test_inserted_decision_row(trail: Trail) -> None:
    extra = decision(99)
    trail.store.record([RecordRequest([extra])], actor="crm")  # event 7
    trail.sql(decisions.update().where(decisions.c.id == extra.id).values(audit_seq=2))
    assert trail.report() == ("inserted", 2)


def test_inserted_row_without_an_event(trail: Trail) -> None:
    with trail.store.engine.connect() as conn:
        row = dict(
            conn.execute(sa.select(decisions).where(decisions.c.id == trail.single)).one()._mapping
        )
    row.update(id="01900000-0000-7000-8000-000000000000", audit_seq=None)
    trail.sql(decisions.insert().values(**row))
    result = trail.store.verify_audit()
    assert (result.problem, result.first_bad_seq) == ("inserted", None)
    assert result.details["id"] == row["id"]


def test_inserted_row_under_an_event_of_another_kind(trail: Trail) -> None:
    trail.sql(decisions.update().where(decisions.c.id == trail.single).values(audit_seq=6))
    problem, seq = trail.report()
    assert problem in ("inserted", "deleted") and seq == 5


def test_inserted_forged_event(trail: Trail) -> None:
    trail.sql(
        audit_events.insert().values(
            seq=7,
            at=sa.func.current_timestamp(),
            actor="mallory",
            kind="key.created",
            subject="x",
            payload={},
            prev_hash=GENESIS,
            hash="f" * 64,
        )
    )
    assert trail.report() == ("inserted", 7)


def test_inserted_event_in_the_middle(trail: Trail) -> None:
    with trail.store.engine.connect() as conn:
        second = conn.execute(sa.select(audit_events).where(audit_events.c.seq == 2)).one()
    for seq in range(6, 2, -1):
        trail.sql(audit_events.update().where(audit_events.c.seq == seq).values(seq=seq + 1))
    forged = {"seq": 3, "actor": "mallory", "kind": "note", "subject": "x", "payload": {}}
    at = second.at
    digest = event_hash(second.hash, 3, at, "mallory", "note", "x", {})
    trail.sql(audit_events.insert().values(**forged, at=at, prev_hash=second.hash, hash=digest))
    assert trail.report() == ("inserted", 3)


def test_reordered_events(trail: Trail) -> None:
    trail.sql(audit_events.update().where(audit_events.c.seq == 2).values(seq=-2))
    trail.sql(audit_events.update().where(audit_events.c.seq == 3).values(seq=2))
    trail.sql(audit_events.update().where(audit_events.c.seq == -2).values(seq=3))
    assert trail.report() == ("reordered", 2)


def test_reordered_rows_between_events(trail: Trail) -> None:
    trail.sql(decisions.update().where(decisions.c.id == trail.batch[0]).values(audit_seq=-1))
    trail.sql(decisions.update().where(decisions.c.id == trail.single).values(audit_seq=2))
    trail.sql(decisions.update().where(decisions.c.id == trail.batch[0]).values(audit_seq=5))
    assert trail.report() == ("reordered", 2)


def test_an_event_rewritten_with_its_hash_recomputed_is_named_itself(trail: Trail) -> None:
    with trail.store.engine.connect() as conn:
        third = conn.execute(sa.select(audit_events).where(audit_events.c.seq == 3)).one()
    forged = event_hash(third.prev_hash, 3, third.at, "mallory", third.kind, third.subject, {})
    trail.sql(
        audit_events.update()
        .where(audit_events.c.seq == 3)
        .values(actor="mallory", payload={}, hash=forged)
    )
    report = trail.store.verify_audit()
    assert (report.problem, report.first_bad_seq, report.events) == ("edited", 3, 2)
    assert report.details["next"] == 4


@pytest.mark.parametrize(
    ("table", "seq"),
    [(decisions, 2), (reviews, 4)],
)
def test_a_problem_in_the_rows_counts_only_the_events_before_it(
    trail: Trail, table: sa.Table, seq: int
) -> None:
    trail.sql(table.update().where(table.c.audit_seq == seq).values(created_at=sa.func.now()))
    report = trail.store.verify_audit()
    assert (report.problem, report.first_bad_seq, report.events) == ("edited", seq, seq - 1)


def _key_row(trail: Trail, **changes: object) -> dict[str, object]:
    with trail.store.engine.connect() as conn:
        row = dict(conn.execute(sa.select(api_keys)).one()._mapping)
    row.update(changes)
    return row


def test_a_key_forged_without_its_event_is_found(trail: Trail) -> None:
    secret = "dsk_" + "f" * 43
    forged = _key_row(trail, id=new_id(), name="ops", role="admin", key_hash=hash_secret(secret))
    trail.sql(api_keys.insert().values(**forged))
    key = trail.store.authenticate(secret)
    assert key is not None and key.role == "admin"  # what verify must catch
    report = trail.store.verify_audit()
    assert (report.problem, report.first_bad_seq, report.events) == ("inserted", None, 6)
    assert report.details == {"table": "api_keys", "id": forged["id"]}


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"role": "admin"}, "role"),
        ({"name": "ops"}, "name"),
        ({"key_hash": hash_secret("dsk_" + "e" * 43)}, "key_hash"),
    ],
)
def test_a_key_edited_behind_its_event_is_found(
    trail: Trail, change: dict[str, object], field: str
) -> None:
    trail.sql(api_keys.update().values(**change))
    report = trail.store.verify_audit()
    assert (report.problem, report.first_bad_seq, report.events) == ("edited", 1, 0)
    assert report.details["fields"] == [field]


def test_a_key_role_is_checked_against_its_latest_role_event(trail: Trail) -> None:
    (key,) = trail.store.list_keys()
    trail.sql(api_keys.update().values(role="admin"))  # a role change as the store makes it:
    change = {"id": key.id, "name": key.name, "from": "client", "role": "admin"}
    seq = trail.store.append_audit("key.role_changed", key.id, change, actor="admin")  # 7
    assert trail.store.verify_audit().ok
    trail.sql(api_keys.update().values(role="client"))  # ...undone behind the store's back
    report = trail.store.verify_audit()
    assert (report.problem, report.first_bad_seq, report.details["fields"]) == (
        "edited",
        seq,
        ["role"],
    )


def test_a_key_revived_or_revoked_behind_the_store_is_found(trail: Trail) -> None:
    (key,) = trail.store.list_keys()
    trail.store.revoke_key(key.id, actor="admin")  # event 7
    assert trail.store.verify_audit().ok
    trail.sql(api_keys.update().values(revoked_at=None))
    report = trail.store.verify_audit()
    assert (report.problem, report.first_bad_seq) == ("edited", 7)
    assert report.details["note"] == "no longer revoked"
    other, _ = trail.store.create_key("bi", "viewer", actor="admin")  # event 8
    trail.sql(api_keys.update().where(api_keys.c.id == other.id).values(revoked_at=sa.func.now()))
    trail.sql(api_keys.update().where(api_keys.c.id == key.id).values(revoked_at=_revoked(trail)))
    report = trail.store.verify_audit()
    assert (report.problem, report.first_bad_seq) == ("edited", None)
    assert report.details["id"] == other.id


def _revoked(trail: Trail) -> object:
    with trail.store.engine.connect() as conn:
        return conn.execute(sa.select(audit_events.c.at).where(audit_events.c.seq == 7)).scalar()


def test_a_deleted_key_row_is_found(trail: Trail) -> None:
    trail.sql(api_keys.delete())
    assert trail.report() == ("deleted", 1)


def test_model_version_rows_are_vouched_for_by_their_event(trail: Trail) -> None:
    trail.sql(model_versions.update().values(content_hash="b" * 64))
    report = trail.store.verify_audit()
    assert (report.problem, report.first_bad_seq, report.details["fields"]) == (
        "edited",
        6,
        ["content_hash"],
    )
    trail.sql(model_versions.update().values(content_hash="a" * 64))
    assert trail.store.verify_audit().ok
    with trail.store.engine.connect() as conn:
        row = dict(conn.execute(sa.select(model_versions)).one()._mapping)
    trail.sql(model_versions.insert().values(**{**row, "version": "v2"}))
    report = trail.store.verify_audit()
    assert (report.problem, report.first_bad_seq) == ("inserted", None)
    assert report.details == {"table": "model_versions", "id": "churn/v2"}
    trail.sql(model_versions.delete())
    assert trail.report() == ("deleted", 6)


def test_a_review_row_forged_without_its_event_is_found(trail: Trail) -> None:
    with trail.store.engine.connect() as conn:
        row = dict(conn.execute(sa.select(reviews)).one()._mapping)
    forged = {**row, "id": new_id(), "decision_id": trail.pair[0], "audit_seq": None}
    trail.sql(reviews.insert().values(**forged))
    report = trail.store.verify_audit()
    assert (report.problem, report.first_bad_seq) == ("inserted", None)
    assert report.details["table"] == "reviews"


def test_keys_never_store_the_secret(store: Store) -> None:
    _key, secret = store.create_key("crm", "client", actor="admin")
    with store.engine.connect() as conn:
        for table in ("api_keys", "audit_events"):
            for row in conn.execute(sa.text(f"SELECT * FROM {table}")):
                assert secret not in " ".join(str(v) for v in row)
                assert secret[12:] not in " ".join(str(v) for v in row)
