"""Reads of champion against challenger and of a backtest: decisions with their inputs and
latest outcome in keyset pages, labelled decisions by version, shadow rows with their
decisions, counts per version; on SQLite and PostgreSQL."""

from __future__ import annotations

import dataclasses
import json
from datetime import UTC, datetime, timedelta

from tests.store.factories import decision

from doorstep.store import RecordRequest, Store
from doorstep.store.challengers import SHADOW_LABELLED_COLUMNS, VERSION_LABELLED_COLUMNS
from doorstep.store.feedback import OutcomeWrite
from doorstep.store.replay import REPLAY_COLUMNS
from doorstep.store.shadow_records import shadow_of
from doorstep.types import Decision, Outcome

T0 = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)


def seed(store: Store) -> list[Decision]:
    """Six decisions a minute apart, v1 then v2 alternately; the first four with outcomes, the
    first of them twice (the later observation wins)."""
    made = [
        decision(i, created_at=T0 + timedelta(minutes=i), model_version=("v1", "v2")[i % 2],
                 status=("decided", "overridden")[i == 3], final_action="none")
        for i in range(6)
    ]  # fmt: skip
    store.record([RecordRequest(made)], actor="test")
    outcomes = [
        Outcome(row=0, observed_at=T0 + timedelta(days=1), decision_id=made[0].id, label="0"),
        Outcome(row=1, observed_at=T0 + timedelta(days=2), decision_id=made[0].id, label="1"),
        *(
            Outcome(
                row=i + 1, observed_at=T0 + timedelta(days=1), decision_id=made[i].id, label="0"
            )
            for i in (1, 2, 3)
        ),
    ]
    store.record_outcomes(OutcomeWrite("churn", outcomes, timedelta(days=30), "t"), actor="t")
    return made


def test_replay_pages_carry_inputs_and_the_latest_outcome(store: Store) -> None:
    made = seed(store)
    pages = list(store.iter_replay("churn", chunk_rows=4))
    assert [len(p) for p in pages] == [4, 2]
    rows = [dict(zip(REPLAY_COLUMNS, row, strict=True)) for page in pages for row in page]
    assert [r["id"] for r in rows] == [d.id for d in made]
    assert json.loads(rows[2]["inputs"]) == made[2].inputs
    assert [r["label"] for r in rows] == ["1", "0", "0", "0", None, None]
    assert rows[1]["model_version"] == "v2" and rows[3]["status"] == "overridden"
    assert rows[0]["created_us"] == int(T0.timestamp() * 1_000_000)
    later = list(store.iter_replay("churn", since=T0 + timedelta(minutes=4)))
    assert [row[0] for page in later for row in page] == [made[4].id, made[5].id]


def test_labelled_by_version_and_counts(store: Store) -> None:
    made = seed(store)
    rows = [
        dict(zip(VERSION_LABELLED_COLUMNS, row, strict=True))
        for page in store.iter_version_labelled("churn", chunk_rows=3)
        for row in page
    ]
    assert [(r["id"], r["model_version"], r["label"]) for r in rows] == [
        (made[0].id, "v1", "1"), (made[1].id, "v2", "0"),
        (made[2].id, "v1", "0"), (made[3].id, "v2", "0"),
    ]  # fmt: skip
    counts = {c.model_version: c for c in store.version_counts("churn")}
    assert (counts["v1"].decisions, counts["v2"].decisions) == (3, 3)
    assert (counts["v2"].reviewed, counts["v2"].overridden) == (1, 1)
    assert counts["v1"].acting == 3  # the factory's decisions all act


def test_shadow_rows_with_their_decisions_and_outcomes(store: Store) -> None:
    made = seed(store)
    shadows = [
        shadow_of(dataclasses.replace(d, model_version="v3", score=0.9, action="none"), d.id)
        for d in made[:5]
    ]
    store.record_shadow(shadows)
    rows = [
        dict(zip(SHADOW_LABELLED_COLUMNS, row, strict=True))
        for page in store.iter_shadow_labelled("churn", "v3")
        for row in page
    ]
    assert [r["id"] for r in rows] == [d.id for d in made[:4]]  # the labelled ones
    assert all(r["shadow_score"] == 0.9 and r["shadow_action"] == "none" for r in rows)
    assert [r["score"] for r in rows] == [d.score for d in made[:4]]
    assert rows[0]["label"] == "1"
    (counted,) = store.shadow_counts("churn")
    assert (counted.model_version, counted.decisions, counted.acting) == ("v3", 5, 0)
    assert store.shadow_counts("churn", since=T0 + timedelta(minutes=3))[0].decisions == 2
