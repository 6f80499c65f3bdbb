"""The page ``GET /apps/{app}/report`` serves the same self-contained document as ``doorstep
report`` writes, under its own Content-Security-Policy."""

from __future__ import annotations

import httpx
import pytest
from tests.services.monitor.test_report_html import assert_self_contained, parse
from tests.web.test_auth import page_session

from doorstep.services.apps.registry import Registry
from doorstep.services.monitor.report_html import report_csp
from doorstep.store import Store
from doorstep.web import ServeSettings, create_app


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.mark.anyio
async def test_the_report_page_serves_the_same_document(
    registry: Registry, store: Store, keys: dict[str, str], settings: ServeSettings
) -> None:
    app = create_app(registry, store, settings)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as browser:
        await page_session(browser, keys["viewer"])
        board = await browser.get("/apps/churn")
        assert 'href="/apps/churn/report"' in board.text
        page = await browser.get("/apps/churn/report", params={"window": "hour", "periods": 6})
        assert page.status_code == 200, page.text
        assert page.headers["content-type"].startswith("text/html")
        policy = page.headers["content-security-policy"]
        assert policy.startswith(report_csp()) and "frame-ancestors 'none'" in policy
        checked = parse(page.text)
        assert_self_contained(page.text, checked)
        assert 'churn <span class="muted">monitoring report</span>' in page.text
        assert "in 6 hour windows" in page.text
        bad = await browser.get("/apps/churn/report", params={"window": "fortnight"})
        assert bad.status_code == 422
