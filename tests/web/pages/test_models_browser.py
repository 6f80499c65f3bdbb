"""The models page in Chromium: one owner requests a promotion, an admin approves it, and the
store follows; the page with every part shown passes axe-core and fits a phone."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from tests.web.pages.conftest import Site, sign_in
from tests.web.pages.test_every_page_browser import SIZES, violations
from tests.web.pages.test_models_page import churn, next_model, shadow_with_outcomes, stages

from doorstep.services.rollout.promotion import request_promotion
from doorstep.services.rollout.register import register_spec_model, register_version
from doorstep.services.rollout.stages import Caller
from doorstep.store.tables import audit_events

__all__ = ["next_model"]  # the fixture, shared with the in-process tests


def test_one_owner_requests_another_key_approves_in_chromium(
    page: Any, live: Site, next_model: Path, tmp_path: Path
) -> None:
    app = churn(live)
    kept = tmp_path / "kept"
    register_spec_model(app, live.store, actor="test", models=kept)
    first = app.model_version
    register_version(app, live.store, next_model, version="2", models=kept, actor="test")
    sign_in(page, live, "owner", "/models")
    page.select_option("#promote-version-churn", "2")
    page.fill("#promote-churn", "better on the backtest")
    page.get_by_role("button", name="Request promotion").click()
    page.wait_for_selector("#pending-churn")
    page.context.clear_cookies()
    sign_in(page, live, "admin", "/models")
    page.fill("#approve-churn", "checked the backtest")
    page.get_by_role("button", name="Approve 2").click()
    page.wait_for_selector("#models-done")
    assert stages(live) == {first: "retired", "2": "champion"}
    with live.store.engine.connect() as conn:
        events = conn.execute(
            sa.select(audit_events.c.kind, audit_events.c.actor).where(
                audit_events.c.kind.like("model_promotion.%")
            )
        ).all()
    assert sorted(events) == [
        ("model_promotion.approved", "key:admin-1"),
        ("model_promotion.requested", "key:owner-1"),
    ]
    assert live.store.verify_audit().ok
    assert page.locator("tr.version[data-version='2']").get_attribute("data-stage") == "champion"
    assert page.errors == []


@pytest.mark.parametrize("size", list(SIZES))
def test_the_models_page_with_every_part_passes_axe_and_fits_a_phone(
    browser: Any, live: Site, next_model: Path, churn_app_template: Path, tmp_path: Path, size: str
) -> None:
    app = churn(live)
    kept = tmp_path / "kept"
    register_spec_model(app, live.store, actor="test", models=kept)
    note = "retrained on newer customers, a long note that wraps on a phone"
    register_version(app, live.store, next_model, version="2", models=kept, actor="t", notes=note)
    shadow_with_outcomes(live, next_model, churn_app_template)
    owner = Caller("key:owner-1", live.store.authenticate(live.keys["owner"]))
    request_promotion(live.store, app.spec, "2", caller=owner, reason="better on the backtest")
    width, height = SIZES[size]
    context = browser.new_context(viewport={"width": width, "height": height}, bypass_csp=True)
    tab = context.new_page()
    try:
        sign_in(tab, live, "admin", "/models")
        assert tab.locator("#pending-churn").is_visible() and tab.locator("#compare-churn").count()
        assert tab.get_by_role("button", name="Stop the shadow (2)").is_visible()
        found = violations(tab)
        scroll, inner = tab.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
    finally:
        context.close()
    assert found == []
    assert scroll <= inner, (scroll, inner)
