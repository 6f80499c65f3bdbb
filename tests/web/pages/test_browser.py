"""The pages in a real browser (headless Chromium): sign in, work the queue, override with a
reason, see the held delivery re-targeted and the dashboard change; CSRF refusal; a viewer
cannot review; twenty cases cleared with the keyboard alone; screenshots of the main pages."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

from tests.web.pages.conftest import Site, sign_in

from doorstep.store.protocols import DeliveryQuery
from doorstep.store.views import QueueQuery

SHOTS = os.environ.get("DOORSTEP_SCREENSHOTS_DIR")
"""When set (``scripts/screenshots``), the screenshots go there (the docs' images)."""


def pending(site: Site) -> int:
    from datetime import UTC, datetime

    return site.store.review_queue(QueueQuery(("churn",)), now=datetime.now(UTC)).total


def test_reviewer_overrides_a_case_and_sees_the_delivery_and_dashboard_change(
    page: Any, live: Site
) -> None:
    before = pending(live)
    assert before >= 21
    sign_in(page, live, "reviewer", "/review")
    assert page.locator("h1").inner_text().startswith("Review queue")
    assert page.locator("table.queue tbody tr").count() == min(before, 50)
    page.keyboard.press("n")
    page.wait_for_url(re.compile(r"/decisions/"), wait_until="commit")
    decision_id = page.url.split("/decisions/")[1].split("?")[0]
    assert page.locator("#claimed-by-you").is_visible()
    assert page.locator("#reasons li").count() >= 1
    assert page.locator("table.bars .bar").count() >= 1
    assert page.locator(".delivery[data-state=held]").count() == 1
    page.keyboard.press("o")
    assert page.evaluate("document.activeElement.id") == "override-action"
    page.select_option("#override-action", "call_customer")
    page.get_by_label("Reason (required)").fill("Premium account manager asked to call first")
    page.keyboard.press("Enter")
    page.wait_for_url(lambda url: decision_id not in url.split("?")[0], wait_until="commit")
    entity = live.store.get_decision(decision_id).entity_id  # type: ignore[union-attr]
    assert page.locator("#verdict-done").inner_text().startswith(f"Verdict recorded on {entity} (")
    assert decision_id not in page.locator("#verdict-done").inner_text()  # named, not its id
    page.goto(f"{live.url}/decisions/{decision_id}")
    assert page.locator("#status").inner_text() == "overridden"
    assert page.locator("#final-action").inner_text() == "call_customer"
    assert page.locator(".delivery[data-action=retention_offer][data-state=cancelled]").count() == 1
    assert page.locator(".delivery[data-action=call_customer][data-state=pending]").count() == 1
    assert "review.recorded" in page.locator("#audit").inner_text()
    page.goto(f"{live.url}/apps/churn")
    assert page.locator("#tile-override").inner_text().startswith("100%")
    assert page.locator("#tile-backlog .big").inner_text() == str(before - 1)
    page.wait_for_selector("[data-chart=decisions-per-day][data-drawn=true]")
    assert page.locator("[data-drawn=true] canvas").count() == 4
    # the monitoring panel arrives after the page, fetched by htmx, drawn as SVG
    page.wait_for_selector("#panel-drift", timeout=30_000)
    assert page.locator("#monitoring-loading").count() == 0
    assert page.locator("#monitoring svg.chart#chart-auc").is_visible()
    rows = page.locator("#panel-drift-table tbody tr[data-status]")
    assert rows.count() >= 10  # every feature and the score, each with a mark and a word
    assert rows.first.locator(".status").inner_text()[2:] in ("ok", "warn", "alert", "too few rows")
    line = page.eval_on_selector("#chart-auc .key line", "e => getComputedStyle(e).fill")
    assert line == "none"  # the page's stylesheet styles the report's charts
    assert page.errors == []


def test_a_form_without_the_session_token_is_refused(page: Any, live: Site) -> None:
    sign_in(page, live, "reviewer", "/review/next")
    page.wait_for_url(re.compile(r"/decisions/"), wait_until="commit")
    decision_id = page.url.split("/decisions/")[1].split("?")[0]
    page.eval_on_selector("#verdict-form input[name=csrf_token]", "e => e.value = 'forged'")
    page.get_by_label("Reason (required)").fill("looks right")
    page.get_by_role("button", name="Give verdict").click()
    page.wait_for_load_state("networkidle")
    assert "security token" in page.locator("[role=alert]").inner_text()
    assert live.store.get_decision(decision_id).status == "pending_review"  # type: ignore[union-attr]


def test_a_refused_verdict_keeps_the_case_address_and_a_reload_shows_the_case(
    page: Any, live: Site
) -> None:
    sign_in(page, live, "reviewer", "/review?order=score")
    page.keyboard.press("n")
    page.wait_for_url(re.compile(r"/decisions/"), wait_until="commit")
    case_url = page.url
    decision_id = case_url.split("/decisions/")[1].split("?")[0]
    page.get_by_label("Reason (required)").fill("no verdict chosen")
    page.keyboard.press("Enter")  # neither approve nor override: refused
    page.wait_for_selector("#verdict-error")
    assert "Choose a verdict" in page.locator("#verdict-error").inner_text()
    assert page.url == case_url  # not .../verdict
    assert page.evaluate("document.activeElement.id") == "verdict-error"
    answer = page.reload()
    assert answer is not None and answer.status == 200
    assert answer.headers["content-type"].startswith("text/html")
    assert (
        page.locator("#verdict-form").count() == 1 and page.locator("#verdict-error").count() == 0
    )
    assert live.store.get_review(decision_id) is None
    assert [e for e in page.errors if "status of 422" not in e] == []  # the refusal's answer


def test_back_after_a_verdict_shows_the_case_decided_and_no_form(page: Any, live: Site) -> None:
    """Back shows the case as the server has it now, not a copy of the page with its form:
    htmx keeps no copies of pages (they held the form, the inputs and the session's token)."""
    sign_in(page, live, "reviewer", "/review")
    page.keyboard.press("n")
    page.wait_for_url(re.compile(r"/decisions/"), wait_until="commit")
    page.wait_for_selector("#verdict-form")
    decision_id = page.url.split("/decisions/")[1].split("?")[0]
    page.keyboard.press("a")
    page.keyboard.type("checked")
    page.keyboard.press("Enter")
    page.wait_for_url(lambda url: decision_id not in url.split("?")[0], wait_until="commit")
    page.wait_for_selector("#verdict-form")
    page.go_back()
    page.wait_for_url(re.compile(decision_id), wait_until="commit")
    page.wait_for_selector("#verdict-given")
    assert page.locator("#status").inner_text() == "approved"
    assert page.locator("#verdict-form").count() == 0
    assert page.evaluate("sessionStorage.getItem('htmx-history-cache')") is None
    assert page.errors == []


def held_by(site: Site, name: str) -> list[str]:
    from datetime import UTC, datetime

    key_id = next(k.id for k in site.store.list_keys() if k.name == name)
    queue = site.store.review_queue(QueueQuery(("churn",), limit=500), now=datetime.now(UTC))
    return [e.id for e in queue.items if e.claim is not None and e.claim.key_id == key_id]


def test_n_on_a_case_moves_on_and_the_address_is_the_next_case(page: Any, live: Site) -> None:
    """``n`` on a case page releases it and opens the next one; the address bar shows that case
    (reloading it claims nothing more). It used to show ``/review/next`` and reopen the same
    case, which the reviewer held."""
    sign_in(page, live, "reviewer", "/review")
    page.keyboard.press("n")
    page.wait_for_url(re.compile(r"/decisions/"), wait_until="commit")
    page.wait_for_selector("#verdict-form")
    first = page.url.split("/decisions/")[1].split("?")[0]
    assert held_by(live, "reviewer-1") == [first]
    page.keyboard.press("n")
    page.wait_for_url(lambda url: first not in url, wait_until="commit")
    page.wait_for_selector("#claimed-by-you")
    assert re.search(r"/decisions/[0-9a-f-]+$", page.url.split("?")[0]), page.url
    second = page.url.split("/decisions/")[1].split("?")[0]
    assert held_by(live, "reviewer-1") == [second]  # the first went back to the queue
    page.reload()
    page.wait_for_selector("#claimed-by-you")
    assert second in page.url and held_by(live, "reviewer-1") == [second]
    page.keyboard.press("n")  # and on: never back to the case just skipped
    page.wait_for_url(lambda url: second not in url, wait_until="commit")
    third = page.url.split("/decisions/")[1].split("?")[0]
    assert third not in (first, second)
    assert page.errors == []


def test_a_viewer_sees_cases_but_cannot_review(page: Any, live: Site) -> None:
    sign_in(page, live, "viewer", "/review")
    assert page.locator("#next-case").count() == 0
    page.keyboard.press("n")  # a reviewer's key: nothing happens (no refusal page either)
    page.keyboard.press("?")
    assert page.locator("#shortcuts").is_visible()
    assert "approve" not in page.locator("#shortcuts").inner_text()
    page.keyboard.press("Escape")
    assert page.url.endswith("/review") and page.locator("h1").inner_text().startswith("Review")
    page.locator("table.queue tbody tr a").first.click()
    page.wait_for_url(re.compile(r"/decisions/"), wait_until="commit")
    assert page.locator("#verdict-form").count() == 0
    assert page.locator("text=Your role may read this case, not review it").is_visible()
    email = page.locator("#inputs tr", has_text="email").inner_text()
    assert "***" in email
    decision_id = page.url.split("/decisions/")[1].split("?")[0]
    token = page.eval_on_selector("form.who input[name=csrf_token]", "e => e.value")
    answer = page.request.post(
        f"{live.url}/decisions/{decision_id}/verdict",
        form={"csrf_token": token, "verdict": "approve", "reason": "x"},
    )
    assert answer.status == 403 and "may not" in answer.text()
    assert live.store.get_decision(decision_id).status == "pending_review"  # type: ignore[union-attr]


def test_a_reviewer_clears_twenty_cases_with_the_keyboard_alone(page: Any, live: Site) -> None:
    before = pending(live)
    sign_in(page, live, "reviewer", "/review")
    page.keyboard.press("n")
    page.wait_for_url(re.compile(r"/decisions/"), wait_until="commit")
    cleared: list[str] = []
    for number in range(20):
        decision_id = page.url.split("/decisions/")[1].split("?")[0]
        page.keyboard.press("a")
        assert page.evaluate("document.activeElement.id") == "reason"
        page.keyboard.type(f"checked, case {number + 1}")
        page.keyboard.press("Enter")
        page.wait_for_url(
            lambda url, d=decision_id: d not in url.split("?")[0], wait_until="commit"
        )
        page.wait_for_selector("#reason")
        cleared.append(decision_id)
    assert pending(live) == before - 20
    statuses = {live.store.get_decision(d).status for d in cleared}  # type: ignore[union-attr]
    assert statuses == {"approved"}
    released = live.store.list_deliveries(DeliveryQuery(app="churn", state="pending", limit=1000))
    assert {d.decision_id for d in released.items} >= set(cleared)
    assert page.errors == []


def test_ten_cases_by_keyboard_alone_store_the_verdict_chosen_for_each(
    page: Any, live: Site
) -> None:
    """Approve and override in turn, by keyboard alone, as fast as the pages allow: each case's
    stored verdict, action and reason are the ones chosen on that case's page. (After a verdict
    the next case used to open with focus in the reason field, so its ``o`` was typed into the
    reason and Enter recorded an approval reading "o...".)"""
    sign_in(page, live, "reviewer", "/review")
    page.keyboard.press("n")
    page.wait_for_url(re.compile(r"/decisions/"), wait_until="commit")
    page.wait_for_selector("#verdict-form")
    chosen: dict[str, tuple[str, str | None, str]] = {}
    for number in range(10):
        decision_id = page.url.split("/decisions/")[1].split("?")[0]
        proposed = page.locator("#proposed-action").inner_text()
        reason = f"case {number + 1}: checked by keyboard"
        if number % 2 == 0:
            page.keyboard.press("a")
            page.keyboard.type(reason)
            chosen[decision_id] = ("approve", None, reason)
        else:
            page.keyboard.press("o")
            page.keyboard.press("ArrowDown")  # the second action offered instead
            action = page.input_value("#override-action")
            assert action != proposed
            page.keyboard.press("Tab")
            page.keyboard.type(reason)
            chosen[decision_id] = ("override", action, reason)
        page.keyboard.press("Enter")
        page.wait_for_url(
            lambda url, d=decision_id: d not in url.split("?")[0], wait_until="commit"
        )
        page.wait_for_selector("#verdict-form")
    assert len(chosen) == 10
    for decision_id, (verdict, action, reason) in chosen.items():
        review = live.store.get_review(decision_id)
        assert review is not None, decision_id
        assert (review.verdict, review.action, review.reason) == (verdict, action, reason)
        record = live.store.get_decision(decision_id)
        assert record is not None
        expected = "approved" if verdict == "approve" else "overridden"
        assert (record.status, record.final_action) == (expected, action or record.action)
    assert page.errors == []


def test_screenshots_of_the_main_pages(browser: Any, live: Site, tmp_path: Path) -> None:
    """The pages at a laptop's size, the queue at a tablet's, and every page at a phone's."""
    folder = Path(SHOTS) if SHOTS else tmp_path
    folder.mkdir(parents=True, exist_ok=True)
    sizes = {"laptop": (1280, 900), "tablet": (820, 1180), "phone": (390, 844)}
    for name, size in sizes.items():
        context = browser.new_context(viewport={"width": size[0], "height": size[1]})
        tab = context.new_page()
        sign_in(tab, live, "admin", "/review")
        tab.screenshot(path=str(folder / f"pages-queue-{name}.png"), full_page=False)
        if name == "tablet":
            context.close()
            continue
        suffix = "" if name == "laptop" else "-phone"
        tab.keyboard.press("n")
        tab.wait_for_url(re.compile(r"/decisions/"), wait_until="commit")
        tab.wait_for_selector("#verdict-form")
        tab.screenshot(path=str(folder / f"pages-decision{suffix}.png"), full_page=True)
        tab.goto(f"{live.url}/apps/churn")
        tab.wait_for_selector("[data-chart=decisions-per-day][data-drawn=true]")
        tab.wait_for_selector("#panel-drift", timeout=30_000)
        tab.screenshot(path=str(folder / f"pages-dashboard{suffix}.png"), full_page=True)
        for page_name in ("deliveries", "activity"):
            tab.goto(f"{live.url}/apps/churn/{page_name}")
            tab.wait_for_load_state("networkidle")
            tab.screenshot(path=str(folder / f"pages-{page_name}-{name}.png"), full_page=False)
        tab.goto(f"{live.url}/keys")
        tab.screenshot(path=str(folder / f"pages-keys{suffix}.png"), full_page=False)
        context.close()
    shots = sorted(p.name for p in folder.glob("pages-*.png"))
    assert len(shots) == 13, shots  # the queue at 3 sizes, 5 pages at 2
    assert all((folder / s).stat().st_size > 10_000 for s in shots)
