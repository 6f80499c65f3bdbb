"""``POST /v1/apps/{app}/decisions?decided_at=…``: admin and owner keys record decisions at a
past time (marked imported, no deliveries, audited with the key); other roles get a 403 problem
naming the field; a time that is not one, or in the future, a 422 naming it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import pytest
from tests.web.conftest import auth, customer

from doorstep.store.protocols import DeliveryQuery, StoreContract

pytestmark = pytest.mark.anyio

URL = "/v1/apps/churn/decisions"


@pytest.mark.parametrize("role", ["admin", "owner"])
async def test_admin_and_owner_keys_record_decisions_at_a_past_time(
    client: httpx.AsyncClient, store: StoreContract, keys: dict[str, str], role: str
) -> None:
    at = "2026-01-15T09:30:00+01:00"
    records = {"records": [customer(i, tenure_months=1, support_tickets_30d=9) for i in range(8)]}
    answer = await client.post(
        URL, params={"decided_at": at}, json=records, headers=auth(keys, role)
    )
    assert answer.status_code == 200, answer.text
    ids = [d["decision_id"] for d in answer.json()["decisions"]]
    for decision_id in ids:
        made = store.get_decision(decision_id)
        assert made is not None
        assert made.created_at == datetime(2026, 1, 15, 8, 30, tzinfo=UTC)
        assert made.lineage and made.lineage["imported"]["api"] == f"key:test-{role}"
        assert made.status.value != "pending_review"
    assert store.list_deliveries(DeliveryQuery(app="churn")).items == []  # history: none sent
    trail = store.decision_audit(ids[0])
    assert trail and trail[0].actor == f"key:test-{role}"


@pytest.mark.parametrize("role", ["client"])  # reviewers and viewers may not post at all
async def test_other_roles_get_a_403_naming_the_field(
    client: httpx.AsyncClient, keys: dict[str, str], role: str
) -> None:
    answer = await client.post(
        URL,
        params={"decided_at": "2026-01-15T09:30:00Z"},
        json=customer(1),
        headers=auth(keys, role),
    )
    assert answer.status_code == 403
    problem = answer.json()
    assert problem["code"] == "permission_denied" and "decided_at" in problem["detail"]
    assert problem["errors"][0]["field"] == "decided_at"


@pytest.mark.parametrize(
    ("text", "told"),
    [
        ("last tuesday", "is not a time"),
        ((datetime.now(UTC) + timedelta(days=1)).isoformat(), "future"),
    ],
)
async def test_a_bad_time_is_a_422_naming_the_field(
    client: httpx.AsyncClient, text: str, told: str
) -> None:
    answer = await client.post(URL, params={"decided_at": text}, json=customer(1))
    assert answer.status_code == 422
    problem = answer.json()
    assert problem["errors"][0]["field"] == "decided_at" and told in problem["detail"]
