"""A reason about a ``sensitive: true`` input (the churn example's region) names its value only
to roles that see such inputs: for a viewer the API's decision, the decision page (its reasons
and its suggestions) and the review queue's top reason say "Region: ***"; a reviewer sees
"Region: south"."""

from __future__ import annotations

import json
import re
from contextlib import aclosing
from dataclasses import replace
from datetime import UTC, datetime
from html import unescape

import httpx
import pytest
from tests.web.pages.conftest import Site, session_client

from doorstep.ids import new_id
from doorstep.store import RecordRequest
from doorstep.store.protocols import DecisionQuery
from doorstep.types import Decision, DecisionStatus, Reason

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


SENTENCE = "Region: south, raises churn risk by 60 points"


def about_region(site: Site) -> Decision:
    """A case pending review whose top reason is the region (value ``south``): a copy of a
    seeded decision with its reasons led by the region's."""
    page = site.store.list_decisions(DecisionQuery(app="churn", limit=50))
    base = next(d for d in page.items if d.reasons)
    region: Reason = {
        "feature": "region", "label": "Region", "value": "south", "contribution": 2.5,
        "effect": 60.0, "sentence": SENTENCE,
    }  # fmt: skip
    made = replace(
        base, id=new_id(), entity_id="C-REGION-1", inputs={**base.inputs, "region": "south"},
        reasons=[region, *(base.reasons or [])[:2]], status=DecisionStatus.PENDING_REVIEW,
        review=True, control=False, created_at=datetime.now(UTC),
    )  # fmt: skip
    site.store.record([RecordRequest([made])], actor="test")
    return made


async def test_a_viewer_never_reads_the_value_of_a_sensitive_reason(seeded: Site) -> None:
    decision = about_region(seeded)
    value, sentence = "south", SENTENCE
    hidden = "Region: ***, raises churn risk by 60 points"
    viewer, _ = await session_client(seeded, "viewer")
    reviewer, _ = await session_client(seeded, "reviewer")
    async with aclosing(viewer), aclosing(reviewer):
        for client, shown in ((viewer, hidden), (reviewer, sentence)):
            page = unescape((await client.get(f"/decisions/{decision.id}")).text)
            assert shown in page
            bars = re.findall(r"Region: [^,<]*,", page)
            assert bars and all(b == shown.split(" raises")[0].split(" lowers")[0] for b in bars)
        seen = unescape((await viewer.get(f"/decisions/{decision.id}")).text)
        assert f"Region: {value}" not in seen
        assert not re.search(r'<option[^>]*value="south"[^>]*selected', seen)  # nor the form
    for role, expected in (("viewer", "***"), ("reviewer", value)):
        headers = {"Authorization": f"Bearer {seeded.keys[role]}"}
        async with aclosing(await api_client(seeded)) as client:
            answer = await client.get(f"/v1/decisions/{decision.id}", headers=headers)
        assert answer.status_code == 200, answer.text
        (masked,) = [r for r in answer.json()["reasons"] if r["feature"] == "region"]
        assert masked["value"] == expected and masked["effect"] == 60.0
        assert (value in json.dumps(masked)) == (role == "reviewer")


async def test_the_queue_shows_a_sensitive_top_reason_without_its_value(seeded: Site) -> None:
    about_region(seeded)
    viewer, _ = await session_client(seeded, "viewer")
    reviewer, _ = await session_client(seeded, "reviewer")
    async with aclosing(viewer), aclosing(reviewer):
        hidden = unescape((await viewer.get("/review?entity=C-REGION-1")).text)
        shown = unescape((await reviewer.get("/review?entity=C-REGION-1")).text)
    assert "Region: ***" in hidden and "Region: south" not in hidden
    assert "Region: south" in shown


async def api_client(site: Site) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=site.app), base_url="http://t")
