"""The queue's triage in-process: what each row shows (score to three digits and its distance to
the nearest policy threshold, the top reason, the spec's ``show_in_queue`` inputs), search by
entity id, the claim and overdue filters, an empty result, and a bad filter marked in place."""

from __future__ import annotations

import re
from contextlib import aclosing
from datetime import UTC, datetime, timedelta
from html import unescape

import pytest
import sqlalchemy as sa
from tests.web.pages.conftest import Site, session_client

from doorstep.store.tables import decisions
from doorstep.store.views import QueueQuery

pytestmark = pytest.mark.anyio

THRESHOLDS = {0.40: "borderline", 0.60: "high risk", 0.70: "premium at high risk"}
"""The churn example's rules that compare the score (docs' example spec)."""
ROW = re.compile(
    r'<tr data-href="/decisions/([0-9a-f-]+)[^"]*" data-entity="([^"]+)">(.*?)</tr>', re.S
)


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def rows(html: str) -> dict[str, str]:
    """Decision id → the row's text."""
    return {m.group(1): unescape(re.sub(r"<[^>]+>", " ", m.group(3))) for m in ROW.finditer(html)}


def queue(site: Site, **filters: object) -> list[str]:
    query = QueueQuery(("churn",), limit=500, **filters)  # type: ignore[arg-type]
    return [e.id for e in site.store.review_queue(query, now=datetime.now(UTC)).items]


async def test_each_row_shows_score_distance_top_reason_and_key_inputs(seeded: Site) -> None:
    client, _ = await session_client(seeded, "viewer")
    async with aclosing(client):
        page = await client.get("/review")
    assert page.status_code == 200
    shown = rows(page.text)
    assert len(shown) == len(queue(seeded)) > 10
    for decision_id, text in list(shown.items())[:10]:
        record = seeded.store.get_decision(decision_id)
        assert record is not None
        value, name = min(THRESHOLDS.items(), key=lambda t: (abs(record.score - t[0]), t[0]))
        gap = record.score - value
        side = "below" if gap < 0 else "above"
        assert f"{record.score:.3f} · {abs(gap):.3f} {side} {name}" in " ".join(text.split())
        top = max(record.reasons or [], key=lambda r: abs(r["effect"]))
        assert f"{top['label']}: {top['value']}" in text
        flat = " ".join(text.split())
        assert f"Plan: {record.inputs['plan']}" in flat
        tickets = record.inputs["support_tickets_30d"]
        assert f"Support tickets in the last 30 days: {tickets}" in flat
        assert "Monthly spend:" in flat


async def test_search_by_entity_id_finds_the_case(seeded: Site) -> None:
    target = seeded.store.get_decision(queue(seeded)[7])
    assert target is not None
    client, _ = await session_client(seeded, "viewer")
    async with aclosing(client):
        page = await client.get("/review", params={"entity": target.entity_id})
        nothing = await client.get("/review", params={"entity": "NOBODY"})
    assert list(rows(page.text)) == [target.id]
    assert 'value="' + target.entity_id + '"' in page.text
    assert not rows(nothing.text)
    assert "No case matches these filters" in nothing.text
    assert 'href="/review" id="clear-filters"' in nothing.text


async def test_mine_and_unclaimed(seeded: Site) -> None:
    ids = queue(seeded)
    client, csrf = await session_client(seeded, "reviewer")
    async with aclosing(client):
        await client.post(f"/decisions/{ids[3]}/claim", data={"csrf_token": csrf})
        mine = await client.get("/review?claim=mine")
        unclaimed = await client.get("/review?claim=unclaimed&order=score")
        bad = await client.get("/review?claim=theirs")
    assert list(rows(mine.text)) == [ids[3]] and "you" in rows(mine.text)[ids[3]]
    assert ids[3] not in rows(unclaimed.text) and len(rows(unclaimed.text)) == len(ids) - 1
    assert bad.status_code == 422 and 'id="f-claim" name="claim" aria-invalid="true"' in bad.text


async def test_overdue_lists_the_cases_past_the_sla(seeded: Site) -> None:
    ids = queue(seeded)
    old = datetime.now(UTC) - timedelta(hours=30)  # the example's SLA is 24 h
    with seeded.store.engine.begin() as conn:
        conn.execute(sa.update(decisions).where(decisions.c.id.in_(ids[:2])).values(created_at=old))
    client, _ = await session_client(seeded, "viewer")
    async with aclosing(client):
        page = await client.get("/review?overdue=1")
    assert set(rows(page.text)) == set(ids[:2])
    assert all("overdue" in text for text in rows(page.text).values())


async def test_a_bad_filter_marks_its_field_and_keeps_the_queue(seeded: Site) -> None:
    client, _ = await session_client(seeded, "viewer")
    async with aclosing(client):
        page = await client.get("/review?score_min=high&order=score")
    assert page.status_code == 422
    assert re.search(r'id="f-min" name="score_min"[^>]*value="high" aria-invalid="true"', page.text)
    assert 'id="err-score_min"' in page.text and "score_min must be a number" in page.text
    assert len(rows(page.text)) == len(queue(seeded))  # the queue stays, the bad filter left out
