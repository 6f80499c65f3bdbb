"""The one step after the decision path: every way in (an API request, a batch run from a feature
source) records the same decision for the same inputs, tied back to the record it came from."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from doorstep.examples.churn import FEATURES, generate_customers
from doorstep.services.apps.loading import LoadedApp
from doorstep.services.decide.batch import decide_batch
from doorstep.services.decide.online import OnlineRequest, decide_requests
from doorstep.services.decide.recording import record_batch
from doorstep.services.runs.sources import RunOptions, execute_run
from doorstep.sources.adhoc import open_scan
from doorstep.store import DecisionQuery, open_store

pytestmark = pytest.mark.slow

NOW = datetime(2026, 3, 1, tzinfo=UTC)


@pytest.fixture(scope="module")
def app(churn_loaded_app: LoadedApp) -> LoadedApp:
    return churn_loaded_app


def records(count: int) -> list[dict[str, Any]]:
    frame = generate_customers(count, seed=5).drop("churned")
    return [dict(row) for row in frame.iter_rows(named=True)]


def test_decisions_and_rejects_point_back_at_their_records(app: LoadedApp) -> None:
    from doorstep.core.contract import frame_from_records

    rows = records(6)
    rows[1]["tenure_months"] = -4  # breaks min: 0
    rows[4]["customer_id"] = "odd: id (with) colons"
    rows[4]["plan"] = "gold"  # not one of the plan's values
    lineage = [{"request": [], "sources": {"n": i}} for i in range(6)]
    batch = decide_batch(app, frame_from_records(rows, app.spec.inputs), explain=True)
    recorded = record_batch(app, batch, rows, now=NOW, lineage=lineage)
    assert recorded.rows == [0, 2, 3, 5]
    for decision, position in zip(recorded.decisions, recorded.rows, strict=True):
        assert decision.entity_id == rows[position]["customer_id"]
        assert decision.lineage == lineage[position]
        assert decision.inputs == {k: rows[position][k] for k in decision.inputs}
        assert decision.created_at == NOW and decision.model_version == app.model_version
        assert decision.model_hash == app.model.metadata.content_hash
    assert len({d.id for d in recorded.decisions}) == 4
    by_record = {e.record: e for e in recorded.errors}
    assert set(by_record) == {1, 4}
    assert by_record[1].field == "tenure_months" and by_record[1].rule == "min"
    odd = by_record[4]
    assert odd.entity_id == "odd: id (with) colons" and odd.field == "plan"
    # the contract's "row N (id=…): " prefix is gone: the error names its record itself
    assert not odd.message.startswith("row ") and odd.message.startswith("plan")


def test_a_run_and_an_api_request_record_the_same_decision(app: LoadedApp, tmp_path: Path) -> None:
    scan = open_scan(app, "customer_db", None, None)
    with open_store(f"sqlite:///{tmp_path / 'run.db'}") as store:
        lease = store.start_run("churn", "customer_db", runner="t", lease_seconds=60)
        assert lease is not None
        execute_run(app, scan, store, lease, RunOptions(chunk_rows=50, deliver=False))
        from_run = store.list_decisions(DecisionQuery(app="churn", limit=40)).items
    scan.close()
    assert len(from_run) == 40
    online = [
        OnlineRequest([dict(d.inputs)], single=True, actor="t", explain=None) for d in from_run
    ]
    with open_store(f"sqlite:///{tmp_path / 'api.db'}") as store:
        results, _ = decide_requests(app, store, online)
        assert all(not isinstance(r, Exception) for r in results)
        from_api = {
            d.entity_id: d for d in store.list_decisions(DecisionQuery(app="churn", limit=40)).items
        }
    compared = (
        "inputs", "score", "action", "rule", "review", "control", "status", "reasons",
        "reasons_text", "model_version", "model_hash", "predicted_class",
    )  # fmt: skip
    for decision in from_run:
        twin = from_api[decision.entity_id]
        assert {k: getattr(decision, k) for k in compared} == {
            k: getattr(twin, k) for k in compared
        }
        assert decision.lineage is not None and set(decision.lineage["sources"]) == {"customer_db"}
        assert twin.lineage is None  # every input came with the request
    assert set(FEATURES) <= set(from_run[0].inputs)
