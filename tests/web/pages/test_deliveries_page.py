"""An app's deliveries page and activity feed, in-process: filters (a bad one marks its field),
retry and cancel change the store and are audited, roles that may not operate see no buttons
and are refused, a retry refused for the delivery's state says why; the feed names who did
what."""

from __future__ import annotations

from contextlib import aclosing
from html import unescape

import pytest
from tests.web.pages.conftest import Site, session_client

from doorstep.store.protocols import DeliveryQuery
from doorstep.web.pages.activity import event_sentence

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def a_delivery(site: Site, state: str) -> str:
    page = site.store.list_deliveries(DeliveryQuery(app="churn", state=state, limit=1))  # type: ignore[arg-type]
    assert page.items, f"the seeded store has no {state} delivery"
    return page.items[0].id


async def test_the_page_lists_deliveries_with_counts_and_filters(seeded: Site) -> None:
    client, _ = await session_client(seeded, "viewer")
    async with aclosing(client):
        answer = await client.get("/apps/churn/deliveries")
        assert answer.status_code == 200
        counts = seeded.store.delivery_counts("churn")
        assert f"{counts['held']:,}" in answer.text
        assert answer.text.count('class="delivery"') == min(50, sum(counts.values()))
        assert "Retry</button>" not in answer.text and "Cancel</button>" not in answer.text
        held = await client.get("/apps/churn/deliveries?state=held")
        states = set(_states(held.text))
        assert states == {"held"}
        decision = seeded.store.get_delivery(a_delivery(seeded, "held")).decision_id  # type: ignore[union-attr]
        one = await client.get(f"/apps/churn/deliveries?decision={decision}")
        assert one.text.count('class="delivery"') == len(
            seeded.store.list_deliveries(DeliveryQuery(decision_id=decision)).items
        )


async def test_a_bad_filter_marks_its_field_and_still_shows_the_list(seeded: Site) -> None:
    client, _ = await session_client(seeded, "owner")
    async with aclosing(client):
        answer = await client.get("/apps/churn/deliveries?state=lost&connector=fax")
        assert answer.status_code == 200
        text = unescape(answer.text)
        assert 'id="f-state" name="state" aria-invalid="true"' in text
        assert "State must be one of" in text and "has no connector 'fax'" in text
        assert 'class="delivery"' in text  # every delivery, not an error page
        none = await client.get("/apps/churn/deliveries?decision=no-such-decision")
        assert 'id="no-match"' in none.text and "Clear filters" in none.text


async def test_cancel_then_retry_change_the_store_and_are_audited(seeded: Site) -> None:
    delivery_id = a_delivery(seeded, "pending")
    client, token = await session_client(seeded, "owner")
    async with aclosing(client):
        page = await client.get("/apps/churn/deliveries?state=pending")
        assert f'action="/deliveries/{delivery_id}/cancel"' in page.text
        back = "/apps/churn/deliveries?state=pending"
        answer = await client.post(
            f"/deliveries/{delivery_id}/cancel", data={"csrf_token": token, "back": back}
        )
        assert answer.status_code == 303
        assert answer.headers["location"] == f"{back}&done=cancelled"
        assert seeded.store.get_delivery(delivery_id).state == "cancelled"  # type: ignore[union-attr]
        answer = await client.post(
            f"/deliveries/{delivery_id}/retry", data={"csrf_token": token, "back": "//evil.test"}
        )
        assert answer.headers["location"] == "/apps/churn/deliveries?done=retried"
        info = seeded.store.get_delivery(delivery_id)
        assert info is not None and (info.state, info.attempts) == ("pending", 0)
        again = await client.post(f"/deliveries/{delivery_id}/retry", data={"csrf_token": token})
        assert again.status_code == 409
        assert "is pending now: only dead or cancelled deliveries can be retried" in unescape(
            again.text
        )
        assert again.headers["HX-Replace-Url"] == "/apps/churn/deliveries"
        feed = await client.get("/apps/churn/activity")
        text = unescape(feed.text)
        assert text.index("retried the delivery of") < text.index("cancelled the delivery of")
        assert "owner-1" in text


async def test_a_reviewer_may_not_retry_and_nothing_changes(seeded: Site) -> None:
    delivery_id = a_delivery(seeded, "held")
    client, token = await session_client(seeded, "reviewer")
    async with aclosing(client):
        answer = await client.post(f"/deliveries/{delivery_id}/cancel", data={"csrf_token": token})
        assert answer.status_code == 403
        assert seeded.store.get_delivery(delivery_id).state == "held"  # type: ignore[union-attr]
        missing = await client.get("/apps/churn/deliveries")
        assert 'action="/deliveries/' not in missing.text


async def test_the_activity_feed_names_verdicts_and_key_changes(seeded: Site) -> None:
    client, token = await session_client(seeded, "admin")
    async with aclosing(client):
        empty_kinds = [e.event.kind for e in seeded.store.app_events("churn").items]
        assert "decisions.recorded" not in empty_kinds
        await client.post("/keys", data={"csrf_token": token, "name": "crm", "role": "client"})
        feed = seeded.store.app_events("churn")
        assert feed.items[0].event.kind == "key.created"
        assert event_sentence(feed.items[0]) == "created the API key crm (client)"
        page = await client.get("/apps/churn/activity")
        assert "created the API key crm (client)" in page.text
        assert seeded.store.app_events("other-app").items == [
            e for e in seeded.store.app_events("other-app").items if e.event.kind.startswith("key.")
        ]


def _states(html: str) -> list[str]:
    import re

    return re.findall(
        r'class="delivery" data-id="[^"]+" data-action="[^"]+" data-state="(\w+)"', html
    )


async def test_a_second_active_key_of_the_same_name_is_refused(seeded: Site) -> None:
    client, token = await session_client(seeded, "owner")
    async with aclosing(client):
        made = await client.post(
            "/keys", data={"csrf_token": token, "name": "crm", "role": "client"}
        )
        assert made.status_code == 200 and 'id="new-secret"' in made.text
        again = await client.post(
            "/keys", data={"csrf_token": token, "name": " CRM ", "role": "viewer"}
        )
        assert again.status_code == 409
        assert "An active key is named 'crm' already (client" in unescape(again.text)
        assert [k.name for k in seeded.store.list_keys()].count("crm") == 1
        crm = next(k for k in seeded.store.list_keys() if k.name == "crm")
        await client.post(f"/keys/{crm.id}/revoke", data={"csrf_token": token})
        reused = await client.post(
            "/keys", data={"csrf_token": token, "name": "crm", "role": "client"}
        )
        assert reused.status_code == 200  # a revoked key's name may be given again
