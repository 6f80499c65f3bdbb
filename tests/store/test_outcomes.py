"""Outcomes in the store: matching, idempotency, unmatched outcomes, the joined reads; on SQLite
and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from tests.store.factories import decision

from doorstep.store import RecordRequest, Store
from doorstep.store.feedback import LABELLED_COLUMNS, TRAINING_COLUMNS, OutcomeWrite
from doorstep.store.tables import audit_events, outcomes
from doorstep.types import Outcome

T0 = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
HORIZON = timedelta(days=30)


def write(*items: Outcome, app: str = "churn", source: str = "test") -> OutcomeWrite:
    return OutcomeWrite(app=app, outcomes=list(items), horizon=HORIZON, source=source)


def outcome(row: int, at: datetime, **fields: object) -> Outcome:
    return Outcome(row=row, observed_at=at, **fields)  # type: ignore[arg-type]


def seed(store: Store) -> dict[str, str]:
    """C-1 decided on day 0 and day 10; C-2 on day 0; a decision of another app."""
    rows = {
        "c1_day0": decision(1, created_at=T0),
        "c1_day10": decision(1, created_at=T0 + timedelta(days=10)),
        "c2_day0": decision(2, created_at=T0, score=0.9),
        "other_app": decision(1, app="fraud", created_at=T0),
    }
    store.record([RecordRequest([d]) for d in rows.values()], actor="test")
    return {name: d.id for name, d in rows.items()}


def test_outcomes_match_by_decision_and_by_entity(store: Store) -> None:
    ids = seed(store)
    result = store.record_outcomes(
        write(
            outcome(1, T0 + timedelta(days=5), entity_id="C-1", label="1"),  # day 0 decision
            outcome(2, T0 + timedelta(days=20), entity_id="C-1", label="0"),  # day 10 decision
            outcome(3, T0 + timedelta(days=1), decision_id=ids["c2_day0"], label="1"),
        ),
        actor="test",
    )
    assert (result.recorded, result.matched, result.duplicates, result.errors) == (3, 3, 0, [])
    with store.engine.connect() as conn:
        by_label_time = {
            (r.label, r.observed_at): r.decision_id for r in conn.execute(sa.select(outcomes)).all()
        }
    assert by_label_time[("1", T0 + timedelta(days=5))] == ids["c1_day0"]
    assert by_label_time[("0", T0 + timedelta(days=20))] == ids["c1_day10"]
    assert by_label_time[("1", T0 + timedelta(days=1))] == ids["c2_day0"]


def test_unmatched_outcomes_are_kept_with_their_reason(store: Store) -> None:
    ids = seed(store)
    result = store.record_outcomes(
        write(
            outcome(1, T0, entity_id="C-404", label="1"),
            outcome(2, T0 + timedelta(days=45), entity_id="C-2", label="1"),  # horizon is 30 days
            outcome(3, T0 - timedelta(days=1), entity_id="C-2", label="1"),  # before any decision
            outcome(4, T0, decision_id="0193-nope", label="0"),
            outcome(5, T0, decision_id=ids["other_app"], label="0"),  # another app's decision
            outcome(6, T0 - timedelta(hours=1), decision_id=ids["c2_day0"], label="0"),
        ),
        actor="test",
    )
    assert result.recorded == 6 and result.matched == 0
    assert result.unmatched == {
        "no_decision": 1,
        "outside_horizon": 2,
        "unknown_decision": 2,
        "before_decision": 1,
    }
    with store.engine.connect() as conn:
        rows = conn.execute(sa.select(outcomes).order_by(outcomes.c.unmatched)).all()
    assert all(r.decision_id is None for r in rows)
    assert sorted(result.unmatched_rows) == [
        (1, "no_decision"),
        (2, "outside_horizon"),
        (3, "outside_horizon"),
        (4, "unknown_decision"),
        (5, "unknown_decision"),
        (6, "before_decision"),
    ]
    assert {r.entity_id for r in rows if r.unmatched == "before_decision"} == {"C-2"}
    counts = store.feedback_counts("churn")
    assert counts.unmatched == result.unmatched and counts.labelled == 0


def test_the_same_outcome_twice_is_recorded_once(store: Store) -> None:
    seed(store)
    batch = write(
        outcome(1, T0 + timedelta(days=2), entity_id="C-1", label="1"),
        outcome(2, T0 + timedelta(days=2), entity_id="C-1", label="1"),  # repeated in the batch
        outcome(3, T0 + timedelta(days=3), entity_id="C-2", value=None, label="0"),
    )
    first = store.record_outcomes(batch, actor="test")
    again = store.record_outcomes(batch, actor="test")
    assert (first.recorded, first.duplicates) == (2, 1)
    assert (again.recorded, again.duplicates, again.audit_seq) == (0, 3, None)
    with store.engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(outcomes)).scalar_one() == 2
        kinds = conn.execute(sa.select(audit_events.c.kind)).scalars().all()
    assert kinds.count("outcomes.recorded") == 1  # nothing recorded, no event


def test_a_contradicting_outcome_is_refused_and_the_rest_recorded(store: Store) -> None:
    seed(store)
    store.record_outcomes(
        write(outcome(1, T0 + timedelta(days=2), entity_id="C-1", label="1")), actor="t"
    )
    result = store.record_outcomes(
        write(
            outcome(7, T0 + timedelta(days=2), entity_id="C-1", label="0"),
            outcome(8, T0 + timedelta(days=4), entity_id="C-2", label="0"),
            outcome(9, T0 + timedelta(days=4), entity_id="C-2", label="1"),
        ),
        actor="t",
    )
    assert result.recorded == 1 and result.matched == 1
    assert [(e.row, e.field, e.rule) for e in result.errors] == [
        (9, "label", "conflict"),
        (7, "label", "conflict"),
    ]
    assert "recorded with label '1' (recorded before), not label '0'" in result.errors[1].message
    assert "(row 8)" in result.errors[0].message


def test_an_entity_that_contradicts_its_decision_is_refused(store: Store) -> None:
    ids = seed(store)
    result = store.record_outcomes(
        write(
            outcome(
                1, T0 + timedelta(days=1), decision_id=ids["c1_day0"], entity_id="C-2", label="1"
            )
        ),
        actor="t",
    )
    assert result.recorded == 0
    [error] = result.errors
    assert (error.field, error.rule) == ("entity_id", "entity_mismatch")
    assert "is about entity 'C-1', not 'C-2'" in error.message


def test_outcomes_sharing_a_row_number_each_match_their_own_decision(store: Store) -> None:
    """A write may carry several outcomes with one row number (rows numbered by several
    sources, or one request per label): each is matched by itself, never by its row."""
    ids = seed(store)
    result = store.record_outcomes(
        write(
            outcome(1, T0 + timedelta(days=1), decision_id=ids["c2_day0"], label="1"),
            outcome(1, T0 + timedelta(days=20), entity_id="C-1", label="0"),  # day 10 decision
            outcome(1, T0 + timedelta(days=5), entity_id="C-1", label="1"),  # day 0 decision
            outcome(1, T0 + timedelta(days=2), entity_id="C-404", label="0"),  # no decision
            outcome(1, T0 + timedelta(days=3), decision_id=ids["c1_day0"], entity_id="C-2"),
        ),
        actor="test",
    )
    assert (result.recorded, result.matched, dict(result.unmatched)) == (4, 3, {"no_decision": 1})
    assert [(e.row, e.rule) for e in result.errors] == [(1, "entity_mismatch")]
    with store.engine.connect() as conn:
        by_time = {
            r.observed_at: (r.decision_id, r.entity_id, r.unmatched)
            for r in conn.execute(sa.select(outcomes)).all()
        }
    assert by_time == {
        T0 + timedelta(days=1): (ids["c2_day0"], "C-2", None),
        T0 + timedelta(days=20): (ids["c1_day10"], "C-1", None),
        T0 + timedelta(days=5): (ids["c1_day0"], "C-1", None),
        T0 + timedelta(days=2): (None, "C-404", "no_decision"),
    }


def test_outcomes_are_in_the_audit_chain(store: Store) -> None:
    seed(store)
    result = store.record_outcomes(
        write(outcome(1, T0 + timedelta(days=1), entity_id="C-1", label="1"), source="file:o.csv"),
        actor="cli:maria",
    )
    with store.engine.connect() as conn:
        event = conn.execute(
            sa.select(audit_events).where(audit_events.c.seq == result.audit_seq)
        ).one()
        row = conn.execute(sa.select(outcomes)).one()
    assert event.kind == "outcomes.recorded" and event.actor == "cli:maria"
    assert event.payload["count"] == 1 and event.payload["source"] == "file:o.csv"
    assert event.payload["matched"] == 1 and event.payload["unmatched"] == {}
    assert row.audit_seq == result.audit_seq
    assert store.verify_audit().ok


def test_the_latest_outcome_of_a_decision_counts(store: Store) -> None:
    ids = seed(store)
    store.record_outcomes(
        write(
            outcome(1, T0 + timedelta(days=1), decision_id=ids["c2_day0"], label="0"),
            outcome(2, T0 + timedelta(days=9), decision_id=ids["c2_day0"], label="1"),
            outcome(3, T0 + timedelta(days=3), entity_id="C-1", label="0"),
        ),
        actor="t",
    )
    chunks = list(store.iter_labelled("churn", chunk_rows=1))
    assert [len(c) for c in chunks] == [1, 1]
    rows = [dict(zip(LABELLED_COLUMNS, row, strict=True)) for chunk in chunks for row in chunk]
    assert [r["id"] for r in rows] == [ids["c1_day0"], ids["c2_day0"]]  # by score
    assert [r["label"] for r in rows] == ["0", "1"]
    counts = store.feedback_counts("churn")
    assert (counts.decisions, counts.labelled, counts.outcomes_matched) == (3, 2, 3)
    assert counts.would_act == 3 and counts.control == 0
    window = store.feedback_counts("churn", since=T0 + timedelta(days=5))
    assert (window.decisions, window.labelled) == (1, 0)


def test_training_rows_join_reviews_and_outcomes_oldest_first(store: Store) -> None:
    ids = seed(store)
    store.record_outcomes(
        write(outcome(1, T0 + timedelta(days=11), entity_id="C-1", value=None, label="1")),
        actor="t",
    )
    rows = [
        dict(zip(TRAINING_COLUMNS, row, strict=True))
        for chunk in store.iter_training_rows("churn", chunk_rows=2)
        for row in chunk
    ]
    assert [r["decision_id"] for r in rows][-1] == ids["c1_day10"]
    assert len(rows) == 3
    labelled = {r["decision_id"]: r for r in rows if r["outcome_label"] is not None}
    assert list(labelled) == [ids["c1_day10"]]
    assert labelled[ids["c1_day10"]]["outcome_matched_by"] == "entity"
    assert labelled[ids["c1_day10"]]["inputs"]["tenure_months"] == 1
    only = list(store.iter_training_rows("churn", labelled_only=True))
    assert sum(len(c) for c in only) == 1


@pytest.mark.parametrize("n", [1_200])
def test_matching_a_large_batch(store: Store, n: int) -> None:
    decisions = [decision(i, created_at=T0 + timedelta(minutes=i)) for i in range(n)]
    store.record([RecordRequest(decisions)], actor="t")
    result = store.record_outcomes(
        write(
            *(
                outcome(i, T0 + timedelta(days=2), entity_id=f"C-{i}", label=str(i % 2))
                for i in range(n)
            )
        ),
        actor="t",
    )
    assert result.matched == n and not result.unmatched
    assert store.feedback_counts("churn").labelled == n


FORGED = {
    "id": "01900000-0000-7000-8000-000000000000",
    "app": "churn",
    "ref_kind": "entity",
    "ref": "C-9",
    "observed_at": T0,
    "decision_id": None,
    "entity_id": "C-9",
    "label": "1",
    "value": None,
    "unmatched": "no_decision",
    "source": "forged",
    "recorded_at": T0,
    "audit_seq": None,
}


@pytest.mark.parametrize(
    ("tamper", "problem"),
    [
        (lambda ids: outcomes.update().where(outcomes.c.label == "1").values(label="0"), "edited"),
        (lambda ids: outcomes.update().values(decision_id=ids["c2_day0"]), "edited"),
        (lambda ids: outcomes.delete().where(outcomes.c.label == "1"), "deleted"),
        (
            lambda ids: outcomes.update().where(outcomes.c.label == "1").values(audit_seq=None),
            "deleted",
        ),
        (lambda ids: outcomes.insert().values(**FORGED), "inserted"),
    ],
)
def test_audit_verify_finds_tampered_outcomes(store: Store, tamper: object, problem: str) -> None:
    ids = seed(store)
    store.record_outcomes(
        write(
            outcome(1, T0 + timedelta(days=2), entity_id="C-1", label="1"),
            outcome(2, T0 + timedelta(days=2), entity_id="C-404", label="0"),
        ),
        actor="t",
    )
    assert store.verify_audit().ok
    with store.engine.begin() as conn:
        conn.execute(tamper(ids))  # type: ignore[operator]
    report = store.verify_audit()
    assert not report.ok and report.problem == problem, report
    assert report.details.get("table") == "outcomes"


def test_labelled_rows_carry_the_decision_time_in_exact_microseconds(store: Store) -> None:
    moments = [
        T0 + timedelta(microseconds=123_457),
        datetime(1999, 12, 31, 23, 59, 59, 999_999, tzinfo=UTC),
        datetime(2038, 1, 19, 3, 14, 8, 1, tzinfo=UTC),
    ]
    made = [decision(i, created_at=m) for i, m in enumerate(moments)]
    store.record([RecordRequest(made)], actor="t")
    store.record_outcomes(
        write(
            *(
                outcome(i, T0 + timedelta(days=9000), decision_id=d.id, label="1")
                for i, d in enumerate(made)
            )
        ),
        actor="t",
    )
    rows = [
        dict(zip(LABELLED_COLUMNS, r, strict=True)) for c in store.iter_labelled("churn") for r in c
    ]
    expected = {d.id: round(d.created_at.timestamp() * 1_000_000) for d in made}
    assert {r["id"]: r["created_us"] for r in rows} == expected
