"""Undo in Chromium: a reviewer approves a case, presses Undo on the next case's banner, and the
store has the verdict gone, the case back in the queue and its delivery held again, never
attempted; the banner passes axe-core and fits a phone."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

from tests.web.pages.conftest import Site, sign_in
from tests.web.pages.test_every_page_browser import violations

from doorstep.store.protocols import DeliveryQuery
from doorstep.store.views import QueueQuery


def _queue(site: Site) -> list[str]:
    page = site.store.review_queue(QueueQuery(("churn",), limit=1000), now=datetime.now(UTC))
    return [entry.id for entry in page.items]


def test_a_reviewer_undoes_a_verdict_and_the_case_is_back_with_its_action_held(
    browser: Any, live: Site
) -> None:
    context = browser.new_context(viewport={"width": 390, "height": 844}, bypass_csp=True)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    try:
        sign_in(page, live, "reviewer", "/review")
        page.keyboard.press("n")
        page.wait_for_url(re.compile(r"/decisions/"), wait_until="commit")
        case = page.url.split("/decisions/")[1].split("?")[0]
        page.keyboard.press("a")
        page.keyboard.type("checked with the customer")
        page.keyboard.press("Enter")
        page.wait_for_url(lambda url: case not in url.split("?")[0], wait_until="commit")
        page.wait_for_selector("#undo-verdict")
        record = live.store.get_decision(case)
        assert record is not None and record.status == "approved"
        (held,) = live.store.list_deliveries(DeliveryQuery(app="churn", decision_id=case)).items
        assert held.state == "pending" and held.next_attempt_at is not None
        assert held.next_attempt_at > datetime.now(UTC)  # waits for the window to close
        banner = page.locator("#verdict-done").inner_text()
        assert banner.startswith(f"Verdict recorded on {record.entity_id} (") and case not in banner
        assert violations(page) == []
        scroll, inner = page.evaluate("[document.documentElement.scrollWidth, innerWidth]")
        assert scroll <= inner
        assert case not in _queue(live)
        page.keyboard.press("u")
        page.wait_for_url(re.compile(rf"/decisions/{case}\?.*undone=1"), wait_until="commit")
        page.wait_for_selector("#verdict-undone")
        assert page.locator("#status").inner_text() == "pending review"
        assert page.locator("#verdict-form").count() == 1  # the verdict can be given again
        # the store: verdict gone, case back in the queue, its delivery held and never attempted
        undone = live.store.get_decision(case)
        assert undone is not None and (undone.status, undone.final_action) == (
            "pending_review",
            None,
        )
        assert live.store.get_review(case) is None
        assert case in _queue(live)
        (after,) = live.store.list_deliveries(DeliveryQuery(app="churn", decision_id=case)).items
        assert (after.id, after.state, after.attempts, after.history) == (held.id, "held", 0, ())
        trail = [(e.kind, e.actor) for e in live.store.decision_audit(case)]
        assert trail[-1] == ("review.undone", "key:reviewer-1")
        assert live.store.verify_audit().ok
        page.goto(f"{live.url}/apps/churn/activity")
        latest = page.locator("#activity li").first
        assert latest.get_attribute("data-kind") == "review.undone"
        assert f"undid the approval of {record.entity_id}" in latest.inner_text()
        assert errors == []
    finally:
        context.close()
