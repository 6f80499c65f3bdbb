"""The banner after a verdict, in-process (no JavaScript): it names the case by its entity on
the next case and on the queue, offers Undo while the window is open, and the Undo form works
as a plain form post; a late or needless undo is refused on the case's page, changing nothing."""

from __future__ import annotations

import re
from contextlib import aclosing
from datetime import UTC, datetime
from html import unescape

import pytest
from tests.web.pages.conftest import Site, session_client

from doorstep.store.views import QueueQuery

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def _banner(html: str) -> str:
    found = re.search(
        r'<div class="alert ok" role="status" id="verdict-done">.*?</div>', html, re.S
    )
    assert found is not None, "no verdict banner"
    return found.group(0)


async def test_the_banner_names_the_case_and_its_undo_puts_it_back(seeded: Site) -> None:
    queue = seeded.store.review_queue(QueueQuery(("churn",), limit=2), now=datetime.now(UTC))
    case, other = (entry.id for entry in queue.items)
    entity = queue.items[0].entity_id
    client, csrf = await session_client(seeded, "reviewer")
    async with aclosing(client):
        given = await client.post(
            f"/decisions/{case}/verdict",
            data={"csrf_token": csrf, "verdict": "approve", "case": case, "reason": "fine"},
        )
        assert given.status_code == 303
        nxt = await client.get(given.headers["location"], follow_redirects=True)
        for page in (nxt.text, (await client.get(f"/review?done={case}")).text):
            banner = unescape(_banner(page))
            assert f"Verdict recorded on {entity} (" in banner and ": approved." in banner
            assert case not in re.sub(r'(href|action)="[^"]*"', "", banner)  # named, not its id
            assert f'action="/decisions/{case}/undo"' in banner and 'id="undo-verdict"' in banner
        decided = await client.get(f"/decisions/{case}")  # the case itself offers it too
        assert 'id="verdict-given"' in decided.text and "Undo this verdict" in decided.text
        undone = await client.post(f"/decisions/{case}/undo", data={"csrf_token": csrf})
        assert undone.status_code == 303
        assert undone.headers["location"] == f"/decisions/{case}?undone=1"
        reopened = await client.get(undone.headers["location"])
        assert 'id="verdict-undone"' in reopened.text and 'id="verdict-form"' in reopened.text
        record = seeded.store.get_decision(case)
        assert record is not None and record.status == "pending_review"
        # no verdict left: refused on the case's page (409), nothing changes
        again = await client.post(f"/decisions/{case}/undo", data={"csrf_token": csrf})
        assert again.status_code == 409 and "has no verdict to undo" in again.text
        opened = await client.get(f"/decisions/{case}/undo")  # the form's address: its page
        assert (opened.status_code, opened.headers["location"]) == (303, f"/decisions/{case}")
        # a case named as done that has no verdict: no banner
        plain = await client.get(f"/decisions/{other}?done=no-such-case")
        assert 'id="verdict-done"' not in plain.text
        viewer, viewer_csrf = await session_client(seeded, "viewer")
        async with aclosing(viewer):
            again_given = await client.post(
                f"/decisions/{case}/verdict",
                data={"csrf_token": csrf, "verdict": "approve", "case": case, "reason": "ok"},
            )
            assert again_given.status_code == 303
            shown = await viewer.get(f"/decisions/{case}")
            assert 'id="verdict-given"' in shown.text and "Undo this verdict" not in shown.text
            refused = await viewer.post(f"/decisions/{case}/undo", data={"csrf_token": viewer_csrf})
            assert refused.status_code == 403
    record = seeded.store.get_decision(case)
    assert record is not None and record.status == "approved"  # the viewer's undo changed nothing
