"""Fixtures of the page tests: the churn app with decisions to review in a real store, served by
uvicorn on a free port of 127.0.0.1, and Debian's Chromium driven by Playwright.

The browser must start: when it cannot, the browser tests FAIL (CI installs ``chromium``)."""

from __future__ import annotations

import re
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn

from doorstep.services.apps.examples import decide_sample
from doorstep.services.apps.registry import Registry
from doorstep.store import Store, open_store
from doorstep.web import ServeSettings, create_app

CHROMIUM = "/usr/bin/chromium"
LAUNCH_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


@dataclass
class Site:
    url: str
    store: Store
    keys: dict[str, str]
    app: Any


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def seeded(registry: Registry, churn_app_template: Path, tmp_path: Path) -> Iterator[Site]:
    """A store with the example's first 500 customers decided, and a key of every role."""
    store = open_store(f"sqlite:///{tmp_path / 'doorstep.db'}")
    decide_sample(registry.get("churn"), store, churn_app_template / "customers.parquet", count=500)
    keys = {
        role: store.create_key(f"{role}-1", role, actor="test")[1]
        for role in ("admin", "owner", "reviewer", "viewer", "client")
    }
    keys["reviewer-2"] = store.create_key("reviewer-2", "reviewer", actor="test")[1]
    settings = ServeSettings(home=str(tmp_path), deliver=False)
    app = create_app(registry, store, settings)
    try:
        yield Site("http://testserver", store, keys, app)
    finally:
        store.close()


@pytest.fixture
def live(seeded: Site) -> Iterator[Site]:
    """``seeded`` served by uvicorn on 127.0.0.1."""
    port = _free_port()
    server = uvicorn.Server(
        uvicorn.Config(seeded.app, host="127.0.0.1", port=port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the test server did not start")
        time.sleep(0.02)
    try:
        yield Site(f"http://127.0.0.1:{port}", seeded.store, seeded.keys, seeded.app)
    finally:
        server.should_exit = True
        thread.join(10)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Headless Chromium; a browser that cannot start fails the test, it is never skipped.

    Module-scoped on purpose: while Playwright's sync API is alive it marks its event loop as
    running in the main thread, so async tests after it could not start their own loop."""
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists():
        pytest.fail(
            f"{CHROMIUM} is missing: install Debian's chromium (apt-get install chromium); "
            "scripts/test does it"
        )
    with sync_playwright() as playwright:
        try:
            launched = playwright.chromium.launch(executable_path=CHROMIUM, args=LAUNCH_ARGS)
        except Exception as exc:  # the browser's own error says why
            pytest.fail(f"Chromium did not start: {exc}")
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    tab = context.new_page()
    errors: list[str] = []
    tab.on("pageerror", lambda exc: errors.append(str(exc)))
    tab.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    tab.errors = errors
    try:
        yield tab
    finally:
        context.close()


def sign_in(page: Any, site: Site, role: str, target: str = "/") -> None:
    page.goto(f"{site.url}/sign-in?next={target}")
    page.get_by_label("API key").fill(site.keys[role])
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_load_state("networkidle")


async def session_client(
    site: Site, role: str, *, raise_app_exceptions: bool = True
) -> tuple[httpx.AsyncClient, str]:
    """An in-process client signed in as ``role``, and its CSRF token. With
    ``raise_app_exceptions=False`` an unexpected error is answered as a browser would see it."""
    transport = httpx.ASGITransport(app=site.app, raise_app_exceptions=raise_app_exceptions)
    client = httpx.AsyncClient(transport=transport, base_url="http://testserver")
    form = await client.get("/sign-in")
    match = CSRF.search(form.text)
    assert match is not None
    answer = await client.post(
        "/sign-in", data={"csrf_token": match.group(1), "key": site.keys[role]}
    )
    assert answer.status_code == 303, answer.text
    page = await client.get("/review")
    found = CSRF.search(page.text)
    assert found is not None
    return client, found.group(1)
