"""The pages in-process (no browser): sessions, CSRF, refusals with clear messages that change
nothing, keys, the decision page's context, and the speed of "what would change"."""

from __future__ import annotations

import json
import os
import re
import time
from contextlib import aclosing
from datetime import UTC, datetime
from html import unescape
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
from tests.web.pages.conftest import CSRF, Site, session_client

from doorstep.services.decide.what_if import what_would_change
from doorstep.services.deliver.actions import decision_url
from doorstep.services.review.verdicts import REASON_MAX_LENGTH
from doorstep.store.protocols import DeliveryQuery
from doorstep.store.tables import audit_events
from doorstep.store.views import QueueQuery
from doorstep.web.pages.access import PageRoute
from doorstep.web.pages.session import SessionCodec, load_session_secret
from doorstep.web.schemas import ReviewIn

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def first_pending(site: Site) -> str:
    return pending_cases(site, 1)[0]


def pending_cases(site: Site, count: int) -> list[str]:
    page = site.store.review_queue(QueueQuery(("churn",), limit=count), now=datetime.now(UTC))
    return [entry.id for entry in page.items]


async def test_sign_in_sets_a_signed_httponly_samesite_cookie(seeded: Site) -> None:
    client, _ = await session_client(seeded, "reviewer")
    async with aclosing(client):
        form = await client.get("/sign-in")
        token = CSRF.search(form.text).group(1)  # type: ignore[union-attr]
        answer = await client.post(
            "/sign-in",
            data={"csrf_token": token, "key": seeded.keys["owner"], "next": "https://evil.test/"},
        )
        cookie = answer.headers["set-cookie"]
        assert "HttpOnly" in cookie and "SameSite=lax" in cookie and "Path=/" in cookie
        assert answer.headers["location"] == "/"  # never to another site
        assert seeded.keys["owner"] not in cookie  # the secret never travels in the cookie


async def test_sign_in_refuses_unknown_and_client_keys_and_a_forged_form(seeded: Site) -> None:
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=seeded.app), base_url="http://testserver"
    ) as client:
        token = CSRF.search((await client.get("/sign-in")).text).group(1)  # type: ignore[union-attr]
        bad = await client.post("/sign-in", data={"csrf_token": token, "key": "dsk_nope"})
        assert bad.status_code == 401 and "unknown or revoked" in bad.text
        token = CSRF.search(bad.text).group(1)  # type: ignore[union-attr]
        client_key = await client.post(
            "/sign-in", data={"csrf_token": token, "key": seeded.keys["client"]}
        )
        assert client_key.status_code == 403 and "for systems, not people" in client_key.text
        forged = await client.post(
            "/sign-in", data={"csrf_token": "forged", "key": seeded.keys["admin"]}
        )
        assert forged.status_code == 403 and "doorstep_session" not in str(forged.headers)


async def test_a_tampered_cookie_is_a_signed_out_visitor(seeded: Site) -> None:
    client, _ = await session_client(seeded, "reviewer")
    async with aclosing(client):
        value = client.cookies["doorstep_session"]
        client.cookies.set("doorstep_session", value[:-2] + ("A" if value[-2] != "A" else "B"))
        answer = await client.get("/review")
        assert answer.status_code == 303 and answer.headers["location"].startswith("/sign-in")


async def test_a_fragment_for_a_signed_out_visitor_sends_the_whole_page_to_sign_in(
    seeded: Site,
) -> None:
    """htmx would follow a 303 and put the sign-in form inside the dashboard: a fragment gets
    ``HX-Redirect`` back to the page it was loaded into instead."""
    transport = httpx.ASGITransport(app=seeded.app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        htmx = {"HX-Request": "true", "HX-Current-URL": "http://testserver/apps/churn?x=1"}
        answer = await client.get("/apps/churn/monitoring-panel", headers=htmx)
        assert answer.status_code == 204 and answer.text == ""
        assert answer.headers["hx-redirect"] == "/sign-in?next=%2Fapps%2Fchurn%3Fx%3D1"
        plain = await client.get("/apps/churn/monitoring-panel")
        assert plain.status_code == 303
        assert plain.headers["location"] == "/sign-in?next=%2Fapps%2Fchurn%2Fmonitoring-panel"
        elsewhere = {"HX-Request": "true", "HX-Current-URL": "https://evil.example//x"}
        away = await client.get("/apps/churn/monitoring-panel", headers=elsewhere)
        assert away.headers["hx-redirect"] == "/sign-in?next=%2F"  # never another site


async def test_a_verdict_without_a_reason_is_refused_and_changes_nothing(seeded: Site) -> None:
    case = first_pending(seeded)
    events = len(seeded.store.decision_audit(case))
    client, csrf = await session_client(seeded, "reviewer")
    async with aclosing(client):
        answer = await client.post(
            f"/decisions/{case}/verdict",
            data={"csrf_token": csrf, "verdict": "approve", "case": case, "reason": "  "},
        )
    assert answer.status_code == 422
    assert "A review needs a reason" in answer.text and 'id="verdict-error"' in answer.text
    assert seeded.store.get_decision(case).status == "pending_review"  # type: ignore[union-attr]
    assert len(seeded.store.decision_audit(case)) == events


async def test_a_verdict_needs_a_choice_made_for_this_very_case(seeded: Site) -> None:
    """No verdict is preselected, and a form without an explicit approve or override, or chosen
    for another case, records nothing: the reviewer's keys alone cannot approve by default."""
    case, other = pending_cases(seeded, 2)
    events = len(seeded.store.decision_audit(case))
    client, csrf = await session_client(seeded, "reviewer")
    async with aclosing(client):
        page = await client.get(f"/decisions/{case}")
        radios = re.findall(r'<input type="radio" name="verdict"[^>]*>', page.text)
        assert len(radios) == 2 and not any("checked" in radio for radio in radios)
        assert f'name="case" value="{case}"' in page.text
        refused = {
            "no choice": {"case": case, "reason": "ok"},
            "an unknown choice": {"verdict": "maybe", "case": case, "reason": "ok"},
            "no case": {"verdict": "approve", "reason": "ok"},
            "another case": {"verdict": "approve", "case": other, "reason": "ok"},
        }
        for why, fields in refused.items():
            answer = await client.post(
                f"/decisions/{case}/verdict", data={"csrf_token": csrf, **fields}
            )
            assert answer.status_code == 422, why
            assert 'id="verdict-error"' in answer.text, why
            radios = re.findall(r'<input type="radio" name="verdict"[^>]*>', answer.text)
            assert not any("checked" in radio for radio in radios), why
        assert "Choose a verdict" in answer.text or "another case" in answer.text
        assert seeded.store.get_decision(case).status == "pending_review"  # type: ignore[union-attr]
        assert seeded.store.get_review(case) is None
        assert len(seeded.store.decision_audit(case)) == events
        kept = await client.post(
            f"/decisions/{case}/verdict",
            data={"csrf_token": csrf, "verdict": "override", "case": case, "reason": " "},
        )
        assert kept.status_code == 422  # refused for its reason: the choice made here stays
        assert re.search(r'value="override" id="v-override" checked', kept.text)
        given = await client.post(
            f"/decisions/{case}/verdict",
            data={"csrf_token": csrf, "verdict": "approve", "case": case, "reason": "fine"},
        )
        assert given.status_code == 303
    review = seeded.store.get_review(case)
    assert review is not None and (review.verdict, review.reason) == ("approve", "fine")


async def test_a_reason_longer_than_the_api_takes_is_refused_on_the_pages_too(
    seeded: Site,
) -> None:
    """One limit for the API and the pages, enforced by the service: the form's field says it,
    and a longer reason posted anyway (the field's limit is the browser's courtesy) is refused
    with its message and records nothing. The form itself takes up to 64 KiB."""
    assert ReviewIn.model_json_schema()["properties"]["reason"]["maxLength"] == REASON_MAX_LENGTH
    case = first_pending(seeded)
    client, csrf = await session_client(seeded, "reviewer")
    async with aclosing(client):
        page = await client.get(f"/decisions/{case}")
        assert f'maxlength="{REASON_MAX_LENGTH}"' in page.text
        answer = await client.post(
            f"/decisions/{case}/verdict",
            data={"csrf_token": csrf, "verdict": "approve", "case": case, "reason": "x" * 60_000},
        )
    assert answer.status_code == 422 and "at most 2,000 characters" in answer.text
    assert seeded.store.get_review(case) is None


async def test_a_verdict_on_a_case_someone_else_claimed_is_refused(seeded: Site) -> None:
    case = first_pending(seeded)
    other, other_csrf = await session_client(seeded, "owner")
    me, csrf = await session_client(seeded, "reviewer")
    async with aclosing(other), aclosing(me):
        claimed = await other.post(f"/decisions/{case}/claim", data={"csrf_token": other_csrf})
        assert claimed.status_code == 303
        page = await me.get(f"/decisions/{case}")
        assert "Claimed by" in page.text and 'id="verdict-form"' not in page.text
        answer = await me.post(
            f"/decisions/{case}/verdict",
            data={"csrf_token": csrf, "verdict": "approve", "case": case, "reason": "fine"},
        )
        assert answer.status_code == 409 and "claimed by key:owner-1" in answer.text
        taken = await me.post(f"/decisions/{case}/claim", data={"csrf_token": csrf})
        assert taken.status_code == 409
    assert seeded.store.get_decision(case).status == "pending_review"  # type: ignore[union-attr]


async def test_a_verdict_on_a_decided_case_is_refused_and_the_first_stands(seeded: Site) -> None:
    case = first_pending(seeded)
    client, csrf = await session_client(seeded, "reviewer")
    async with aclosing(client):
        first = await client.post(
            f"/decisions/{case}/verdict",
            data={
                "csrf_token": csrf,
                "verdict": "override",
                "case": case,
                "action": "none",
                "reason": "no",
            },
        )
        assert first.status_code == 303 and first.headers["location"].startswith("/review/next")
        again = await client.post(
            f"/decisions/{case}/verdict",
            data={"csrf_token": csrf, "verdict": "approve", "case": case, "reason": "yes"},
        )
        assert again.status_code == 409
        assert "was already overridden (none) by reviewer-1 at " in unescape(again.text)
        assert "with the reason: 'no'" in unescape(again.text)
        assert 'id="verdict-form"' not in again.text
        decided = await client.get(f"/decisions/{case}")
        assert 'id="verdict-given"' in decided.text and 'id="verdict-form"' not in decided.text
        assert decided.headers["cache-control"] == "no-store"
        config = re.search(r'name="htmx-config" content=\'([^\']+)\'', decided.text)
        assert config is not None  # htmx keeps no copy of a page to show on Back
        assert json.loads(config.group(1))["historyCacheSize"] == 0
    record = seeded.store.get_decision(case)
    assert record is not None and record.status == "overridden" and record.final_action == "none"
    review = seeded.store.get_review(case)
    assert review is not None and review.reason == "no"


async def test_a_refused_form_keeps_the_address_of_its_page(seeded: Site) -> None:
    """Every form of the pages posts to an address of its own (``.../verdict``,
    ``/keys/{id}/revoke``); a refusal rendered there tells htmx to show the address of the page
    the form belongs to (``HX-Replace-Url``, with the queue's filters), so that reloading shows
    that page; and opening any form's address gives its page, never a JSON 405."""
    case = first_pending(seeded)
    admin_key = next(k for k in seeded.store.list_keys() if k.role == "admin")
    reviewer, csrf = await session_client(seeded, "reviewer")
    owner, owner_csrf = await session_client(seeded, "owner")
    admin, _ = await session_client(seeded, "admin")
    htmx = {"HX-Request": "true", "HX-Boosted": "true"}
    async with aclosing(reviewer), aclosing(owner), aclosing(admin):
        assert await owner.post(f"/decisions/{case}/claim", data={"csrf_token": owner_csrf})
        verdict = {"verdict": "approve", "case": case, "reason": "fine", "q": "order=score"}
        refusals = [
            (reviewer, f"/decisions/{case}/verdict", verdict, f"/decisions/{case}?order=score"),
            (
                reviewer,
                f"/decisions/{case}/claim",
                {"q": "order=score"},
                f"/decisions/{case}?order=score",
            ),
            (owner, f"/keys/{admin_key.id}/revoke", {}, "/keys"),
            (owner, f"/keys/{admin_key.id}/role", {"role": "viewer"}, "/keys"),
            (owner, "/apps/churn/models/rollback", {"reason": "x", "generation": "-1"}, "/models"),
        ]
        for client, url, fields, page in refusals:
            token = csrf if client is reviewer else owner_csrf
            data = {"csrf_token": token, **fields}
            answer = await client.post(url, data=data, headers=htmx)
            assert answer.status_code in (403, 409), (url, answer.status_code)
            assert answer.headers["hx-replace-url"] == page, url
            assert (await client.get(page)).status_code == 200
        forms = [
            route.path
            for route in seeded.app.routes
            if isinstance(route, PageRoute) and "POST" in (route.methods or ())
        ]
        assert len(forms) >= 8
        delivery = seeded.store.list_deliveries(DeliveryQuery(app="churn", limit=1)).items[0]
        for path in forms:
            url = path.format(
                decision_id=case,
                key_id=admin_key.id,
                delivery_id=delivery.id,
                app="churn",
                verb="rollback",
            )
            answer = await admin.get(url, follow_redirects=True)
            assert answer.status_code == 200, (url, answer.status_code)
            assert answer.headers["content-type"].startswith("text/html"), url
        assert (await admin.get("/review")).status_code == 200  # opening /sign-out signs no one out
        document = (await admin.get("/openapi.json")).json()
        pages = {route.path for route in seeded.app.routes if isinstance(route, PageRoute)}
        assert not pages & set(document["paths"]), "pages are HTML, not part of the API"


async def test_skipping_a_case_releases_it_and_opens_the_one_after_it(seeded: Site) -> None:
    ids = pending_cases(seeded, 500)
    reviewer = next(k for k in seeded.store.list_keys() if k.name == "reviewer-1")
    client, csrf = await session_client(seeded, "reviewer")
    owner, owner_csrf = await session_client(seeded, "owner")
    async with aclosing(client), aclosing(owner):
        assert await client.post(f"/decisions/{ids[0]}/claim", data={"csrf_token": csrf})
        skipped = await client.post("/review/next", data={"csrf_token": csrf, "skip": ids[0]})
        assert skipped.headers["location"] == f"/decisions/{ids[1]}"
        now = datetime.now(UTC)
        assert seeded.store.review_claim(ids[0], now=now) is None  # back in the queue
        claim = seeded.store.review_claim(ids[1], now=now)
        assert claim is not None and claim.key_id == reviewer.id
        await owner.post(f"/decisions/{ids[2]}/claim", data={"csrf_token": owner_csrf})
        theirs = await client.post("/review/next", data={"csrf_token": csrf, "skip": ids[2]})
        assert theirs.headers["location"] == f"/decisions/{ids[3]}"  # the one after theirs
        kept = seeded.store.review_claim(ids[2], now=now)
        assert kept is not None and kept.key_id != reviewer.id  # their claim stays theirs
        last = await client.post(
            "/review/next", data={"csrf_token": csrf, "skip": ids[-1], "q": "app=churn"}
        )
        assert last.headers["location"] == f"/decisions/{ids[0]}?app=churn"  # round to the top


async def test_a_form_without_the_csrf_token_is_refused(seeded: Site) -> None:
    case = first_pending(seeded)
    client, _ = await session_client(seeded, "reviewer")
    async with aclosing(client):
        answer = await client.post(
            f"/decisions/{case}/verdict", data={"verdict": "approve", "reason": "fine"}
        )
    assert answer.status_code == 403 and "csrf_invalid" in answer.text
    assert seeded.store.get_decision(case).status == "pending_review"  # type: ignore[union-attr]


async def test_queue_filters_and_order(seeded: Site) -> None:
    client, _ = await session_client(seeded, "viewer")
    async with aclosing(client):
        by_score = await client.get("/review?order=score")
        scores = [float(s) for s in re.findall(r'class="score-value">([0-9.]+)<', by_score.text)]
        assert scores == sorted(scores, reverse=True) and len(scores) > 5
        band = await client.get("/review?score_min=0.5&score_max=0.6")
        inside = [float(s) for s in re.findall(r'class="score-value">([0-9.]+)<', band.text)]
        assert inside and all(0.5 <= s <= 0.6 for s in inside)  # shown to 3 digits
        bad = await client.get("/review?score_min=high")
        assert bad.status_code == 422 and "score_min must be a number" in bad.text
        assert "Work the next case" not in by_score.text  # a viewer does not review


async def test_the_shortcuts_shown_are_the_ones_the_role_can_use(seeded: Site) -> None:
    case = first_pending(seeded)
    reviewing = ("next case", "approve", "override", "give the verdict", "claim / release")
    for role, reviews in (("viewer", False), ("reviewer", True), ("owner", True)):
        client, _ = await session_client(seeded, role)
        async with aclosing(client):
            for url in ("/review", f"/decisions/{case}", "/apps/churn"):
                page = (await client.get(url)).text
                dialog = re.search(r'<dialog id="shortcuts".*?</dialog>', page, re.S)
                assert dialog is not None, (role, url)
                listed = [what for what in reviewing if what in dialog.group(0)]
                assert listed == (list(reviewing) if reviews else []), (role, url)
                assert "back to the queue" in dialog.group(0)  # what every role can do
                assert ('id="next-case"' in page) == (reviews and url != "/apps/churn")


async def test_decision_page_masks_pii_for_a_viewer_only(seeded: Site) -> None:
    case = first_pending(seeded)
    email = seeded.store.get_decision(case).inputs["email"]  # type: ignore[union-attr]
    viewer, _ = await session_client(seeded, "viewer")
    reviewer, _ = await session_client(seeded, "reviewer")
    async with aclosing(viewer), aclosing(reviewer):
        seen = (await viewer.get(f"/decisions/{case}")).text
        assert email not in seen and "***" in seen
        shown = (await reviewer.get(f"/decisions/{case}")).text
        assert email in shown
        region = seeded.store.get_decision(case).inputs["region"]  # type: ignore[union-attr]
        cell = '<tr><th scope="row">Region</th><td>'  # a sensitive input: masked like pii
        hidden = '<span title="personal or sensitive data, hidden for your role">***</span>'
        assert cell + hidden in seen and cell + region + "</td>" in shown


async def test_keys_created_and_revoked_from_the_browser(seeded: Site) -> None:
    owner, csrf = await session_client(seeded, "owner")
    async with aclosing(owner):
        made = await owner.post("/keys", data={"csrf_token": csrf, "name": "bo", "role": "viewer"})
        secret = re.search(r'id="new-secret">(dsk_[^<]+)<', made.text)
        assert made.status_code == 200 and secret is not None
        assert seeded.store.authenticate(secret.group(1)) is not None
        admin = await owner.post("/keys", data={"csrf_token": csrf, "name": "x", "role": "admin"})
        assert admin.status_code == 403 and "may not create 'admin' keys" in unescape(admin.text)
        key_id = next(k.id for k in seeded.store.list_keys() if k.name == "bo")
        as_bo = Site(seeded.url, seeded.store, {"bo": secret.group(1)}, seeded.app)
        bo, _ = await session_client(as_bo, "bo")
        async with aclosing(bo):
            assert (await bo.get("/review")).status_code == 200
            revoked = await owner.post(f"/keys/{key_id}/revoke", data={"csrf_token": csrf})
            assert revoked.status_code == 303
            assert (await bo.get("/review")).status_code == 303  # the session ended with the key


@pytest.mark.parametrize("ending", ["sign-out", "revocation", "role change"])
async def test_a_copied_cookie_stops_working_when_its_session_ends(
    seeded: Site, ending: str
) -> None:
    """The session lives in the store: signing out, revoking the key or changing its role ends
    it at once, and a copy of the cookie taken before (another tab, a stolen cookie) is then a
    signed-out visitor whose forms change nothing."""
    case = first_pending(seeded)
    key, secret = seeded.store.create_key("ana", "reviewer", actor="test")
    ana, csrf = await session_client(
        Site(seeded.url, seeded.store, {"ana": secret}, seeded.app), "ana"
    )
    owner, owner_csrf = await session_client(seeded, "owner")
    transport = httpx.ASGITransport(app=seeded.app)
    copy = httpx.AsyncClient(transport=transport, base_url="http://testserver")
    copy.cookies.set("doorstep_session", ana.cookies["doorstep_session"])
    async with aclosing(ana), aclosing(owner), aclosing(copy):
        assert (await copy.get("/review")).status_code == 200
        if ending == "sign-out":
            ended = await ana.post("/sign-out", data={"csrf_token": csrf})
        elif ending == "revocation":
            ended = await owner.post(f"/keys/{key.id}/revoke", data={"csrf_token": owner_csrf})
        else:
            ended = await owner.post(
                f"/keys/{key.id}/role", data={"csrf_token": owner_csrf, "role": "viewer"}
            )
        assert ended.status_code == 303, ended.text
        for client in (copy, ana):
            page = await client.get("/review")
            assert page.status_code == 303 and page.headers["location"].startswith("/sign-in")
        refused = await copy.post(
            f"/decisions/{case}/verdict",
            data={"csrf_token": csrf, "verdict": "approve", "case": case, "reason": "late"},
        )
        assert refused.status_code == 303 and refused.headers["location"].startswith("/sign-in")
    assert seeded.store.get_review(case) is None
    if ending == "role change":  # signing in again gives a session of the new role
        again, _ = await session_client(
            Site(seeded.url, seeded.store, {"ana": secret}, seeded.app), "ana"
        )
        async with aclosing(again):
            page = await again.get(f"/decisions/{case}")
            assert "(viewer)" in page.text and 'id="verdict-form"' not in page.text
            assert (await again.get("/review/next")).status_code == 403


async def test_key_roles_change_from_the_keys_page_within_what_the_role_may_grant(
    seeded: Site,
) -> None:
    owner, csrf = await session_client(seeded, "owner")
    keys = {k.name: k for k in seeded.store.list_keys()}
    async with aclosing(owner):
        page = await owner.get("/keys")
        assert f'action="/keys/{keys["viewer-1"].id}/role"' in page.text
        assert f'action="/keys/{keys["admin-1"].id}/role"' not in page.text  # an admin's
        promote = await owner.post(
            f"/keys/{keys['viewer-1'].id}/role", data={"csrf_token": csrf, "role": "admin"}
        )
        assert promote.status_code == 403 and "may not give" in unescape(promote.text)
        unknown = await owner.post(
            f"/keys/{keys['viewer-1'].id}/role", data={"csrf_token": csrf, "role": "root"}
        )
        assert unknown.status_code == 422 and "must be one of admin" in unescape(unknown.text)
        demote = await owner.post(
            f"/keys/{keys['admin-1'].id}/role", data={"csrf_token": csrf, "role": "viewer"}
        )
        assert demote.status_code == 403 and "Only an admin" in demote.text
        changed = await owner.post(
            f"/keys/{keys['viewer-1'].id}/role", data={"csrf_token": csrf, "role": "reviewer"}
        )
        assert changed.status_code == 303
    roles = {k.name: k.role for k in seeded.store.list_keys()}
    assert (roles["viewer-1"], roles["admin-1"]) == ("reviewer", "admin")
    with seeded.store.engine.connect() as conn:
        [event] = conn.execute(
            sa.select(audit_events).where(
                audit_events.c.subject == keys["viewer-1"].id,
                audit_events.c.kind == "key.role_changed",
            )
        ).all()
    assert event.actor == "key:owner-1"
    assert (event.payload["from"], event.payload["role"]) == ("viewer", "reviewer")
    assert seeded.store.verify_audit().ok


def test_decision_url_points_at_the_decision_page() -> None:
    assert decision_url("https://d.example.com/", "abc") == "https://d.example.com/decisions/abc"
    assert decision_url(None, "abc") == ""


def test_session_secret_is_generated_once_and_kept_private(tmp_path: Path) -> None:
    first = load_session_secret(tmp_path, env={})
    assert load_session_secret(tmp_path, env={}) == first and len(first) >= 32
    assert os.stat(tmp_path / "session-secret").st_mode & 0o777 == 0o600
    assert load_session_secret(tmp_path, env={"DOORSTEP_SESSION_SECRET": "s" * 40}) == b"s" * 40
    with pytest.raises(ValueError, match="at least 32"):
        load_session_secret(tmp_path, env={"DOORSTEP_SESSION_SECRET": "short"})
    codec = SessionCodec(first, max_age=60)
    session = codec.new_session("token", time.time() + 60)
    assert codec.decode(codec.encode(session)) == session
    assert SessionCodec(b"x" * 32, max_age=60).decode(codec.encode(session)) is None


def test_what_would_change_flips_the_action_within_200_ms(seeded: Site) -> None:
    app = seeded.app.state.service.registry.get("churn")
    record = seeded.store.get_decision(first_pending(seeded))
    assert record is not None
    what_would_change(app, record)  # warm
    started = time.perf_counter()
    changes = what_would_change(app, record)
    elapsed = time.perf_counter() - started
    assert elapsed < 0.2, elapsed
    assert changes and all(c.action != record.action for c in changes)
    assert [c.distance for c in changes] == sorted(c.distance for c in changes)


async def test_decision_page_shows_where_the_inputs_came_from(
    seeded: Site, churn_app_template: Path
) -> None:
    engine = sa.create_engine(f"sqlite:///{churn_app_template / 'features.db'}")
    with engine.connect() as conn:
        known = conn.execute(sa.text("SELECT min(customer_id) FROM customer_features")).scalar()
    engine.dispose()
    api = httpx.AsyncClient(
        transport=httpx.ASGITransport(app=seeded.app),
        base_url="http://testserver",
        headers={"Authorization": f"Bearer {seeded.keys['client']}"},
    )
    async with aclosing(api):
        answer = await api.post(
            "/v1/apps/churn/decisions", json={"customer_id": known, "plan": "premium"}
        )
    assert answer.status_code == 200, answer.text
    decision = answer.json()["decision_id"]
    observed = answer.json()["lineage"]["sources"]["customer_db"]["observed_at"]
    reviewer, _ = await session_client(seeded, "reviewer")
    async with aclosing(reviewer):
        page = (await reviewer.get(f"/decisions/{decision}")).text
        section = page[page.index('id="lineage"') : page.index('id="h-model"')]
        assert "From the request: Plan" in section
        shown = datetime.fromisoformat(observed).astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")
        assert 'data-source="customer_db"' in section and shown in section  # not raw ISO
        assert observed not in section
        assert "Months as a customer" in section  # labels, not field names
        assert "<td>no</td>" in section  # max_age 30d: fresh
        # what the page shows of a lineage is escaped, whatever the store holds
        hostile = {
            "request": ["<b>plan</b>"],
            "sources": {
                "<script>x()</script>": {
                    "fields": ["tenure_months"],
                    "observed_at": "2099-01-01T00:00:00+00:00",
                    "age_seconds": -7200.0,
                    "future": True,
                    "stale": True,
                }
            },
        }
        with seeded.store.engine.begin() as conn:
            conn.execute(
                sa.text("UPDATE decisions SET lineage = :l WHERE id = :i"),
                {"l": json.dumps(hostile), "i": decision},
            )
        page = (await reviewer.get(f"/decisions/{decision}")).text
    assert "<script>x()</script>" not in page and "&lt;script&gt;x()&lt;/script&gt;" in page
    assert "&lt;b&gt;plan&lt;/b&gt;" in page
    section = page[page.index('id="lineage"') : page.index('id="h-model"')]
    assert "2.0 h in the future" in section and ">future</span>" in section
    assert "2099-01-01 00:00 UTC" in section
    assert ">stale</span>" in section


HTML = {"accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}


async def test_an_unknown_page_is_an_html_page_for_a_browser_and_problem_json_for_a_client(
    seeded: Site,
) -> None:
    client, _ = await session_client(seeded, "reviewer")
    async with aclosing(client):
        page = await client.get("/apps/churn/nowhere", headers=HTML)
        assert page.status_code == 404
        assert page.headers["content-type"].startswith("text/html")
        text = unescape(page.text)
        assert "<h1>Not found</h1>" in text and "There is no page at /apps/churn/nowhere." in text
        assert 'href="/review"' in text and 'href="/"' in text  # next steps for a reviewer
        assert page.headers["x-frame-options"] == "DENY"  # a page's headers
        for path, headers in (("/apps/churn/nowhere", {}), ("/v1/nowhere", HTML)):
            problem = await client.get(path, headers=headers)  # the API's errors stay JSON
            assert problem.status_code == 404
            assert problem.headers["content-type"] == "application/problem+json"
            assert problem.json()["code"] == "not_found"


async def test_a_page_that_fails_is_an_html_page_that_hides_the_internals(
    seeded: Site, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("secret internals")

    monkeypatch.setattr("doorstep.web.pages.dashboard.build_dashboard", broken)
    client, _ = await session_client(seeded, "viewer", raise_app_exceptions=False)
    async with aclosing(client):
        page = await client.get("/apps/churn", headers=HTML)
    assert page.status_code == 500
    assert page.headers["content-type"].startswith("text/html")
    text = unescape(page.text)
    assert "<h1>Something went wrong</h1>" in text and "internal_error" in text
    assert 'href="/apps/churn">Try again</a>' in text
    assert "secret internals" not in text and "Traceback" not in text
    assert "secret internals" in caplog.text  # logged for whoever runs the server
    assert "Go on with the" not in text  # a viewer reviews no case


async def test_a_refused_page_says_how_to_go_on(seeded: Site) -> None:
    client, _ = await session_client(seeded, "viewer")
    async with aclosing(client):
        page = await client.get("/keys", headers=HTML)
    assert page.status_code == 403
    text = unescape(page.text)
    assert "<h1>Not allowed</h1>" in text and "sign in with another key" in text
