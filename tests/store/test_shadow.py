"""Shadow decisions in the store: written with their decisions or on their own, read back by
app, version and time in keyset pages; on SQLite and PostgreSQL."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from tests.store.factories import decision

from doorstep.errors import DoorstepError
from doorstep.store import RecordRequest, Store
from doorstep.store.audit import AuditWriter
from doorstep.store.decisions import record
from doorstep.store.shadow import insert_shadow
from doorstep.store.shadow_records import ShadowDecision, shadow_of
from doorstep.store.tables import shadow_decisions
from doorstep.types import Decision

T0 = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)


def shadow(d: Decision, version: str = "v2", **changes: object) -> ShadowDecision:
    """``d`` as the shadow version would have decided it: another score and action."""
    other = dataclasses.replace(
        d, model_version=version, model_hash="e" * 64, score=1 - d.score, action="none", rule=None
    )
    return dataclasses.replace(shadow_of(other, d.id), **changes)  # type: ignore[arg-type]


def seed(store: Store, n: int, *, app: str = "churn") -> list[Decision]:
    made = [decision(i, app=app, created_at=T0 + timedelta(minutes=i)) for i in range(n)]
    store.record([RecordRequest(made)], actor="test")
    return made


def test_rows_read_back_as_written(store: Store) -> None:
    made = seed(store, 3)
    rows = [shadow(d, predicted_class="1" if i else None) for i, d in enumerate(made)]
    assert store.record_shadow(rows) == 3
    read = [row for page in store.iter_shadow("churn", "v2") for row in page]
    assert read == rows
    assert read[0].reasons == made[0].reasons and read[1].predicted_class == "1"
    assert read[0].created_at.tzinfo is not None


def test_pages_cover_a_version_and_a_time_range_in_order(store: Store) -> None:
    made = seed(store, 7)
    other = seed(store, 2, app="fraud")
    store.record_shadow([shadow(d) for d in made] + [shadow(d, "v3") for d in made[:2]])
    store.record_shadow([shadow(d) for d in other])
    pages = list(store.iter_shadow("churn", "v2", chunk_rows=3))
    assert [len(p) for p in pages] == [3, 3, 1]
    assert [r.decision_id for p in pages for r in p] == [d.id for d in made]
    window = [
        r.decision_id
        for p in store.iter_shadow(
            "churn", "v2", since=T0 + timedelta(minutes=2), until=T0 + timedelta(minutes=5)
        )
        for r in p
    ]
    assert window == [d.id for d in made[2:5]]
    assert [r.model_version for p in store.iter_shadow("churn", "v3") for r in p] == ["v3"] * 2
    assert list(store.iter_shadow("churn", "v9")) == []


def test_rows_of_the_same_microsecond_are_paged_by_decision_id(store: Store) -> None:
    made = [decision(i, created_at=T0) for i in range(5)]
    store.record([RecordRequest(made)], actor="test")
    store.record_shadow([shadow(d) for d in made])
    pages = list(store.iter_shadow("churn", "v2", chunk_rows=2))
    assert [len(p) for p in pages] == [2, 2, 1]
    assert [r.decision_id for p in pages for r in p] == sorted(d.id for d in made)


def test_written_in_the_decisions_transaction_both_or_neither(store: Store) -> None:
    made = decision(1, created_at=T0)
    with pytest.raises(RuntimeError), store.engine.begin() as conn:
        record(conn, AuditWriter(conn), [RecordRequest([made])], "test")
        insert_shadow(conn, [shadow(made)])
        raise RuntimeError("the request failed after recording")
    assert store.get_decision(made.id) is None
    assert list(store.iter_shadow("churn", "v2")) == []
    with store.engine.begin() as conn:
        audit = AuditWriter(conn)
        record(conn, audit, [RecordRequest([made])], "test")
        assert insert_shadow(conn, [shadow(made)]) == 1
        audit.flush()
    assert [r.decision_id for p in store.iter_shadow("churn", "v2") for r in p] == [made.id]
    assert store.verify_audit().ok


def test_a_row_needs_its_decision_and_is_stored_once_per_version(store: Store) -> None:
    made = seed(store, 1)[0]
    orphan = shadow(decision(2))
    with pytest.raises((DoorstepError, sa.exc.IntegrityError)):
        store.record_shadow([orphan])
    store.record_shadow([shadow(made)])
    with pytest.raises((DoorstepError, sa.exc.IntegrityError)):
        store.record_shadow([shadow(made)])
    store.record_shadow([shadow(made, "v3")])
    with store.engine.connect() as conn:
        count = conn.execute(sa.select(sa.func.count()).select_from(shadow_decisions)).scalar()
    assert count == 2


def test_nothing_to_write_opens_no_transaction(store: Store) -> None:
    assert store.record_shadow([]) == 0
