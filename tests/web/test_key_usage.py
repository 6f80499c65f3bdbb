"""Keys' last use, as the server records it: the first API request of a key writes it, the
requests after it within a minute do not; a page request counts too; the keys page shows it."""

from __future__ import annotations

import re

import httpx
import pytest
from tests.web.conftest import auth

from doorstep.store.protocols import StoreContract

pytestmark = pytest.mark.anyio


async def test_requests_record_the_last_use_of_their_key_at_most_once_a_minute(
    client: httpx.AsyncClient, store: StoreContract, keys: dict[str, str]
) -> None:
    viewer = next(k for k in store.list_keys() if k.name == "test-viewer")
    assert viewer.last_used_at is None
    assert (await client.get("/v1/apps", headers=auth(keys, "viewer"))).status_code == 200
    first = store.get_key(viewer.id)
    assert first is not None and first.last_used_at is not None
    for _ in range(5):
        assert (await client.get("/v1/apps", headers=auth(keys, "viewer"))).status_code == 200
    again = store.get_key(viewer.id)
    assert again is not None and again.last_used_at == first.last_used_at  # not per request
    refused = await client.post("/v1/apps/churn/outcomes", json={}, headers=auth(keys, "viewer"))
    assert refused.status_code == 403  # a refused role records nothing more either
    client_key = next(k for k in store.list_keys() if k.name == "test-client")
    assert client_key.last_used_at is None


async def test_the_keys_page_shows_when_each_key_was_last_used(
    client: httpx.AsyncClient, store: StoreContract, keys: dict[str, str]
) -> None:
    form = await client.get("/sign-in")
    token = re.search(r'name="csrf_token" value="([^"]+)"', form.text)
    assert token is not None
    signed = await client.post(
        "/sign-in", data={"csrf_token": token.group(1), "key": keys["owner"]}
    )
    assert signed.status_code == 303
    page = await client.get("/keys")
    assert page.status_code == 200 and '<th scope="col">Last used</th>' in page.text
    owner = next(k for k in store.list_keys() if k.name == "test-owner")
    assert owner.last_used_at is not None  # the sign-in's first page request
    row = re.search(r'<tr data-key="test-owner">.*?</tr>', page.text, re.S)
    assert row is not None and owner.last_used_at.strftime("%Y-%m-%d %H:%M UTC") in row.group(0)
    unused = re.search(r'<tr data-key="test-client">.*?</tr>', page.text, re.S)
    assert unused is not None and '<td class="last-used">never</td>' in unused.group(0)
