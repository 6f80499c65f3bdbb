"""Every page in Chromium at a laptop's size (1280×800) and a phone's (390×844): axe-core finds
no violation of impact serious or critical, and at 390 px nothing scrolls sideways (tables
scroll in their own focusable containers). And the deliveries page as an owner uses it: cancel
a delivery, retry it, each checked in the store.

axe-core is vendored in ``data/axe.min.js`` (``npm pack axe-core``; version and sha256 in
``data/README.md``) and injected into each page by the test: nothing is fetched at test time."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from tests.web.pages.conftest import Site, sign_in

from doorstep.store.protocols import DeliveryQuery

AXE = Path(__file__).parent / "data" / "axe.min.js"
SIZES = {"laptop": (1280, 800), "phone": (390, 844)}
BLOCKING = ("serious", "critical")
RAW_ISO = r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}"
"""A timestamp as machines write it (``2026-12-07T10:52:00+00:00``), never shown on a page."""


def page_addresses(site: Site) -> dict[str, str]:
    """One address of every page kind (a pending case for the decision page)."""
    held = site.store.list_deliveries(DeliveryQuery(app="churn", state="held", limit=1))
    decision = held.items[0].decision_id
    return {
        "queue": "/review",
        "decision": f"/decisions/{decision}",
        "dashboard": "/apps/churn",
        "report": "/apps/churn/report",
        "deliveries": "/apps/churn/deliveries",
        "activity": "/apps/churn/activity",
        "models": "/models",
        "keys": "/keys",
        "not found": "/decisions/no-such-decision",
    }


SMALLEST_CHART_TEXT = """() => Math.min(...[...document.querySelectorAll('svg.chart text')]
.map(t => {
  const svg = t.ownerSVGElement;
  const scale = svg.getBoundingClientRect().width / svg.viewBox.baseVal.width;
  return parseFloat(getComputedStyle(t).fontSize) * scale;
}))"""
"""The smallest text of the server-drawn charts as shown, in CSS pixels."""


def violations(tab: Any) -> list[str]:
    """axe-core's serious and critical violations of the page open in ``tab``, in words."""
    if not tab.evaluate("typeof window.axe !== 'undefined'"):
        tab.add_script_tag(content=AXE.read_text(encoding="utf-8"))
    found = tab.evaluate(
        "async () => (await axe.run(document, {resultTypes: ['violations']})).violations"
        ".map(v => ({id: v.id, impact: v.impact, help: v.help,"
        " nodes: v.nodes.slice(0, 3).map(n => n.target.join(' '))}))"
    )
    return [
        f"{v['id']} ({v['impact']}): {v['help']} at {v['nodes']}"
        for v in found
        if v["impact"] in BLOCKING
    ]


@pytest.mark.parametrize("size", list(SIZES))
def test_every_page_passes_axe_and_a_phone_never_scrolls_sideways(
    browser: Any, live: Site, size: str
) -> None:
    width, height = SIZES[size]
    # the pages allow no inline script (CSP): the test's injected axe-core is let through
    context = browser.new_context(viewport={"width": width, "height": height}, bypass_csp=True)
    tab = context.new_page()
    problems: dict[str, list[str]] = {}
    try:
        tab.goto(f"{live.url}/sign-in")
        problems["sign-in"] = violations(tab)
        sign_in(tab, live, "admin", "/review")
        for name, address in page_addresses(live).items():
            tab.goto(f"{live.url}{address}")
            tab.wait_for_load_state("networkidle")
            if name == "decision":  # the verdict form: beside the decision, after why on a phone
                why = tab.locator("#why").bounding_box()
                form = tab.locator("#verdict-form").bounding_box()
                assert why is not None and form is not None
                after = form["y"] >= why["y"] + why["height"]
                assert after == (size == "phone"), (size, why, form)
            if name in ("deliveries", "decision"):  # a card per delivery on a phone, like the queue
                shown = tab.evaluate(
                    "getComputedStyle(document.querySelector('#deliveries tr.delivery')).display"
                )
                assert shown == ("block" if size == "phone" else "table-row"), (name, size)
            if name == "dashboard":
                tab.wait_for_selector("#panel-drift", timeout=30_000)
                tab.wait_for_selector("[data-chart=decisions-per-day][data-drawn]")
            found = violations(tab)
            raw = re.findall(RAW_ISO, tab.evaluate("document.body.innerText"))
            if raw:  # times are written for people: 2026-12-07 10:52 UTC
                found.append(f"raw ISO timestamps shown: {raw[:3]}")
            if name in ("dashboard", "report") and size == "phone":
                smallest = tab.evaluate(SMALLEST_CHART_TEXT)
                if smallest < 11:
                    found.append(f"chart text of {smallest:.1f} px (at least 11)")
            if size == "phone":
                scroll, inner = tab.evaluate(
                    "[document.documentElement.scrollWidth, window.innerWidth]"
                )
                if scroll > inner:
                    found.append(f"scrolls sideways: scrollWidth {scroll} > innerWidth {inner}")
            unreachable = tab.evaluate(
                "[...document.querySelectorAll('.table-wrap')]"
                ".filter(e => e.scrollWidth > e.clientWidth && e.tabIndex < 0).length"
            )
            if unreachable:
                found.append(f"{unreachable} scrolling table(s) not reachable by keyboard")
            problems[name] = found
    finally:
        context.close()
    failing = {name: found for name, found in problems.items() if found}
    assert failing == {}, f"at {size}:\n" + "\n".join(f"{n}: {f}" for n, f in failing.items())
    assert len(problems) == 10  # every page was checked


def test_an_owner_cancels_and_retries_a_delivery_and_the_store_follows(
    page: Any, live: Site
) -> None:
    pending = live.store.list_deliveries(DeliveryQuery(app="churn", state="pending", limit=1))
    delivery_id = pending.items[0].id
    sign_in(page, live, "owner", "/apps/churn/deliveries?state=pending")
    row = page.locator(f"tr.delivery[data-id='{delivery_id}']")
    assert row.get_attribute("data-state") == "pending"
    asked: list[str] = []

    def accept(dialog: Any) -> None:
        asked.append(dialog.message)
        dialog.accept()

    page.on("dialog", accept)
    row.get_by_role("button", name=re.compile("^Cancel")).click()
    page.wait_for_selector("#delivery-done")
    assert asked and asked[0].startswith("Cancel the")
    assert "state=pending" in page.url  # back where the button was, filters kept
    assert live.store.get_delivery(delivery_id).state == "cancelled"  # type: ignore[union-attr]
    page.goto(f"{live.url}/apps/churn/deliveries?state=cancelled")
    page.locator(f"tr.delivery[data-id='{delivery_id}']").get_by_role(
        "button", name=re.compile("^Retry")
    ).click()
    page.wait_for_selector("#delivery-done")
    info = live.store.get_delivery(delivery_id)
    assert info is not None and (info.state, info.attempts) == ("pending", 0)
    page.goto(f"{live.url}/apps/churn/activity")
    feed = page.locator("#activity li")
    assert feed.first.get_attribute("data-kind") == "deliveries.retried"
    assert "owner-1" in feed.first.inner_text()
    assert page.errors == []


def test_revoking_asks_first_and_warns_on_your_own_key(page: Any, live: Site) -> None:
    sign_in(page, live, "admin", "/keys")
    page.fill("#key-name", "crm")
    page.select_option("#key-role", "client")
    page.get_by_role("button", name="Create key").click()
    page.wait_for_selector("#new-secret")
    secret = page.locator("#new-secret").inner_text()
    page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=live.url)
    page.locator("#copy-secret").click()
    page.wait_for_selector("#copy-status:has-text('Copied.')")
    assert page.evaluate("navigator.clipboard.readText()") == secret
    asked: list[str] = []
    answers = iter([False, True, False])

    def answer(dialog: Any) -> None:
        asked.append(dialog.message)
        dialog.accept() if next(answers) else dialog.dismiss()

    page.on("dialog", answer)
    page.get_by_role("button", name="Revoke crm").click()  # dismissed: nothing happens
    page.wait_for_timeout(300)
    crm = next(k for k in live.store.list_keys() if k.name == "crm")
    assert crm.revoked_at is None and live.store.authenticate(secret) is not None
    page.get_by_role("button", name="Revoke crm").click()  # accepted
    page.wait_for_selector("tr[data-key=crm] >> text=revoked")
    assert live.store.get_key(crm.id).revoked_at is not None  # type: ignore[union-attr]
    assert "signed in with" not in asked[0] and asked[0].startswith("Revoke crm (client)?")
    page.get_by_role("button", name="Revoke admin-1").click()  # one's own key: warned, dismissed
    page.wait_for_timeout(300)
    assert asked[2].startswith("This is the key you are signed in with")
    admin = next(k for k in live.store.list_keys() if k.name == "admin-1")
    assert admin.revoked_at is None
    assert page.errors == []
