"""Who answers for the app is on every page, in the same place: the app bar under the main
navigation names the page's app and its owner (a page of every app, like the review queue or
the models page, names every app's owner); signed out, it is not shown."""

from __future__ import annotations

import re
from contextlib import aclosing

import httpx
import pytest
from tests.web.pages.conftest import Site, session_client
from tests.web.pages.test_pages import HTML, first_pending

pytestmark = pytest.mark.anyio

OWNER = "maria.lopez@example.com"
BAR = re.compile(r'<p class="app-bar" id="app-owners">(.*?)</p>', re.S)


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def owners(page: str) -> list[tuple[str, str]]:
    """(app, owner) of the page's app bar."""
    found = BAR.search(page)
    assert found is not None, page[:2000]
    return re.findall(r'data-app="([^"]+)">[^:]+: owner <a href="mailto:([^"]+)">', found.group(1))


async def test_every_page_names_the_owner_in_the_app_bar(seeded: Site) -> None:
    case = first_pending(seeded)
    client, _ = await session_client(seeded, "owner")
    async with aclosing(client):
        for url in (
            "/apps/churn", "/apps/churn/activity", "/apps/churn/deliveries", f"/decisions/{case}",
            "/review", "/models", "/keys",
        ):  # fmt: skip
            answer = await client.get(url, headers=HTML)
            assert answer.status_code == 200, url
            assert owners(answer.text) == [("churn", OWNER)], url
        missing = await client.get("/apps/nope", headers=HTML)  # an error page: every app's
        assert missing.status_code == 404 and owners(missing.text) == [("churn", OWNER)]
    transport = httpx.ASGITransport(app=seeded.app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as signed_out:
        form = await signed_out.get("/sign-in")
        assert 'id="app-owners"' not in form.text and OWNER not in form.text
