"""The queue's triage in Chromium, checked against the store: search by entity id, "mine",
a skip recorded in the audit trail, a bad filter marked in place, an empty result with a way
back, and cards without sideways scroll on a phone."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

from tests.web.pages.conftest import Site, sign_in

from doorstep.store.views import QueueQuery


def queue(site: Site) -> list[str]:
    page = site.store.review_queue(QueueQuery(("churn",), limit=500), now=datetime.now(UTC))
    return [entry.id for entry in page.items]


def shown(page: Any) -> list[str]:
    links = page.locator("#queue tbody tr td:first-child a")
    return [
        href.split("/decisions/")[1].split("?")[0]
        for href in (links.nth(i).get_attribute("href") for i in range(links.count()))
    ]


def test_search_mine_and_clear_filters(page: Any, live: Site) -> None:
    ids = queue(live)
    target = live.store.get_decision(ids[5])
    assert target is not None
    sign_in(page, live, "reviewer", "/review")
    page.get_by_label("Entity id").fill(target.entity_id)
    page.get_by_role("button", name="Filter").click()
    page.wait_for_url(re.compile(r"entity="))
    assert shown(page) == [target.id]
    page.get_by_role("link", name=target.entity_id).click()
    page.wait_for_selector("#unclaimed")
    page.keyboard.press("c")
    page.wait_for_selector("#claimed-by-you")
    claim = live.store.review_claim(target.id, now=datetime.now(UTC))
    assert claim is not None  # the claim is stored, and "mine" lists it
    page.goto(f"{live.url}/review?claim=mine")
    assert shown(page) == [target.id]
    page.get_by_label("Entity id").fill("NOBODY-AT-ALL")
    page.get_by_role("button", name="Filter").click()
    page.wait_for_selector("#no-match")
    page.locator("#clear-filters").click()
    page.wait_for_url(re.compile(r"/review$"))
    assert shown(page) == ids[:50]
    assert page.errors == []


def test_a_skip_goes_back_to_the_queue_and_is_recorded(page: Any, live: Site) -> None:
    sign_in(page, live, "reviewer", "/review")
    page.keyboard.press("n")
    page.wait_for_selector("#claimed-by-you")
    first = page.url.split("/decisions/")[1].split("?")[0]
    page.keyboard.press("n")
    page.wait_for_url(lambda url: first not in url, wait_until="commit")
    page.wait_for_selector("#claimed-by-you")
    assert live.store.review_claim(first, now=datetime.now(UTC)) is None
    skips = [e for e in live.store.decision_audit(first) if e.kind == "review.skipped"]
    assert [(e.actor, e.subject) for e in skips] == [("key:reviewer-1", first)]
    assert live.store.get_decision(first).status == "pending_review"  # type: ignore[union-attr]
    page.goto(f"{live.url}/decisions/{first}")
    assert page.locator("#audit").get_by_text("review.skipped").count() == 1


def test_a_bad_filter_marks_its_field_and_keeps_the_rows(page: Any, live: Site) -> None:
    sign_in(page, live, "viewer", "/review")
    page.get_by_label("Score from").fill("high")
    page.get_by_role("button", name="Filter").click()
    page.wait_for_selector("#err-score_min")
    field = page.get_by_label("Score from")
    assert field.get_attribute("aria-invalid") == "true" and field.input_value() == "high"
    assert "between 0 and 1" in page.locator("#err-score_min").inner_text()
    assert shown(page) == queue(live)[:50]


def test_on_a_phone_rows_are_cards_without_sideways_scroll(browser: Any, live: Site) -> None:
    context = browser.new_context(viewport={"width": 390, "height": 844})
    try:
        page = context.new_page()
        sign_in(page, live, "reviewer", "/review")
        row = page.locator("#queue tbody tr").first
        assert row.evaluate("r => getComputedStyle(r).display") == "block"
        assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
        assert row.locator(".distance").is_visible() and row.locator(".reason").is_visible()
    finally:
        context.close()
