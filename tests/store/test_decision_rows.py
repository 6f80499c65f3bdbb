"""Decisions given to the store as columns (:class:`DecisionRows`) are written exactly as the
same decisions given one object at a time: every column, the audit event's digest, and a chain
that verifies — with the values that make encoders differ (escapes, non-ASCII, tiny scores,
reasons, lineage on some rows only, times of their own, rows out of id order)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from doorstep.errors import StoreError
from doorstep.ids import new_id
from doorstep.store import RecordRequest, Store, open_store
from doorstep.store.bulk import DbTimes
from doorstep.store.decision_rows import DecisionRows, prepare_rows
from doorstep.store.decisions import _prepare
from doorstep.store.tables import audit_events, decisions
from doorstep.types import Decision, DecisionStatus

NOW = datetime(2026, 12, 8, 1, 2, 3, 456789, tzinfo=UTC)


def varied() -> list[Decision]:
    """Decisions whose fields take the values encoders disagree on."""
    out: list[Decision] = []
    scores = [0.5, 1e-05, 0.1 + 0.2, 1.0, 0.0, 3.14e-12, 0.999999999999]
    entities = ["c-1", 'quote"d', "back\\slash", "naïve ünïcode", "tab\there", "line\nbreak", "ok"]
    for i in range(40):
        status = [DecisionStatus.DECIDED, DecisionStatus.PENDING_REVIEW, "held_out"][i % 3]
        reasons: Any = None
        if i % 4:
            reasons = [
                {"feature": "tenure", "label": "Mois « client »", "value": 3, "contribution": -0.25}
            ]
        out.append(
            Decision(
                id=new_id(),
                app="churn",
                entity_id=entities[i % len(entities)] + str(i),
                model_version=["v1", "v2"][i % 2],
                model_hash="sha256:abc",
                inputs={"customer_id": f"c{i}", "plan": "prémium", "spend": 12.5 * i, "n": i},
                score=scores[i % len(scores)],
                action=["none", "retention_offer", "call_customer"][i % 3],
                rule=None if i % 5 == 0 else f"rule {i % 2}",
                review=i % 3 == 1,
                control=i % 7 == 0,
                status=DecisionStatus(status),
                reasons=reasons,
                reasons_text=None if reasons is None else "Mois « client » : 3",
                created_at=NOW - timedelta(seconds=i % 3),
                predicted_class=None,
                lineage=None if i % 2 else {"request": ["plan"], "sources": {}, "row": i},
            )
        )
    out.reverse()  # not in id order: both ways sort them
    return out


def written(store: Store) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    """Every decision row (all columns, as text where JSON) and every event's kind, subject
    and payload."""
    with store.engine.connect() as conn:
        rows = [
            tuple(row)
            for row in conn.execute(
                sa.select(
                    *[
                        sa.cast(c, sa.Text) if c.name in ("inputs", "reasons", "lineage") else c
                        for c in decisions.c
                    ]
                ).order_by(decisions.c.id)
            )
        ]
        events = [
            tuple(row)
            for row in conn.execute(
                sa.select(audit_events.c.kind, audit_events.c.subject, audit_events.c.payload)
                .where(audit_events.c.kind == "decisions.recorded")
                .order_by(audit_events.c.seq)
            )
        ]
    return rows, events


def test_rows_are_written_as_the_same_decisions_one_at_a_time(
    store_url: str, other_url: str
) -> None:
    made = varied()
    with open_store(store_url) as by_object, open_store(other_url) as by_column:
        by_object.record([RecordRequest(made, app="churn")], actor="t")
        rows = DecisionRows.of("churn", made)
        by_column.record([RecordRequest([], app="churn", rows=rows)], actor="t")
        assert written(by_column) == written(by_object)
        assert len(written(by_column)[0]) == len(made)
        assert by_object.verify_audit().ok and by_column.verify_audit().ok
        for decision in made:  # and read back as the same decisions
            assert by_column.get_decision(decision.id) == by_object.get_decision(decision.id)


def test_one_decision_as_rows_is_its_own_subject(store: Store) -> None:
    [one] = varied()[:1]
    store.record([RecordRequest([], app="churn", rows=DecisionRows.of("churn", [one]))], actor="t")
    _, events = written(store)
    assert events[0][1] == one.id and store.verify_audit().ok


def test_a_request_with_objects_and_rows_is_refused(store: Store) -> None:
    made = varied()
    rows = DecisionRows.of("churn", made[:2])
    with pytest.raises(StoreError, match="as objects or as rows, not both"):
        store.record([RecordRequest(made[2:4], app="churn", rows=rows)], actor="t")


def test_rows_are_read_back_as_the_decisions_they_were_made_from() -> None:
    made = varied()
    rows = DecisionRows.of("churn", made)
    assert rows.decisions() == made
    kept = rows.without({made[0].id, made[5].id})
    assert kept.decisions() == [d for i, d in enumerate(made) if i not in (0, 5)]


def test_a_score_json_refuses_is_refused(store: Store) -> None:
    rows = DecisionRows.of("churn", varied()[:3])
    bad = DecisionRows(**{**rows.__dict__, "scores": [0.5, float("nan"), 0.1]})
    with pytest.raises(ValueError, match="not JSON compliant"):
        store.record([RecordRequest([], app="churn", rows=bad)], actor="t")
    assert written(store) == ([], [])


@pytest.mark.parametrize("dialect", ["sqlite", "postgresql"])
def test_columns_give_the_rows_and_digest_of_the_one_at_a_time_builder(dialect: str) -> None:
    made = varied()
    before, digest = _prepare(made, DbTimes(dialect), lineage=True)
    _, columns, columnar = prepare_rows(
        DecisionRows.of("churn", made), DbTimes(dialect), lineage=True
    )
    assert list(zip(*columns, strict=True)) == before
    assert columnar.payload() == digest.payload()
    without, digest = _prepare(made[1::2], DbTimes(dialect), lineage=False)  # no lineage
    _, columns, columnar = prepare_rows(
        DecisionRows.of("churn", made[1::2]), DbTimes(dialect), lineage=False
    )
    assert list(zip(*columns, strict=True)) == without
    assert columnar.payload() == digest.payload()


def test_reviewed_decisions_are_written_one_at_a_time_and_verify(store: Store) -> None:
    made = [replace(d, final_action=d.action) for d in varied()[:5]]
    store.record([RecordRequest(made, app="churn")], actor="t")
    assert store.verify_audit().ok
    assert [store.get_decision(d.id) for d in made] == made
