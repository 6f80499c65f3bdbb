"""The what-if in Chromium: editing an input changes the score, action and reasons shown at
once (as deciding those inputs gives), and nothing is recorded."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from tests.web.pages.conftest import Site, sign_in

from doorstep.core.contract import frame_from_records
from doorstep.services.decide.batch import decide_batch
from doorstep.store.tables import audit_events, decisions
from doorstep.store.views import QueueQuery


def counts(site: Site) -> tuple[int, int]:
    with site.store.engine.connect() as conn:
        made = conn.execute(sa.select(sa.func.count()).select_from(decisions)).scalar_one()
        audited = conn.execute(sa.select(sa.func.count()).select_from(audit_events)).scalar_one()
    return int(made), int(audited)


def test_editing_an_input_shows_the_new_score_and_action_and_records_nothing(
    page: Any, live: Site
) -> None:
    case = live.store.review_queue(QueueQuery(("churn",)), now=datetime.now(UTC)).items[0].id
    record = live.store.get_decision(case)
    assert record is not None
    app = live.app.state.service.registry.get("churn")
    sign_in(page, live, "reviewer", f"/decisions/{case}")
    before = counts(live)
    assert float(page.locator("#trial-score").inner_text()) == round(record.score, 3)
    wanted = {"days_since_last_login": 0, "contract": "two_year"}
    frame = frame_from_records([{**record.inputs, **wanted}], app.spec.inputs)
    [expected] = decide_batch(app, frame, explain=True).decisions.to_dicts()
    page.get_by_label("Time since last login (days)").fill("0")
    page.get_by_label("Contract").select_option("two_year")
    shown = f"{expected['score']:#.3g}"
    page.wait_for_function(
        "s => document.getElementById('trial-score').textContent.trim() === s", arg=shown
    )
    assert page.locator("#trial-action").inner_text() == expected["action"]
    assert expected["action"] != record.action  # the edit changed the decision
    assert (
        page.locator("#trial-reasons li").first.inner_text() == expected["reasons"][0]["sentence"]
    )
    assert page.locator("#trial-bar line.threshold").count() == 3
    assert "what-if" not in page.url  # the page stays where it was
    assert counts(live) == before  # nothing recorded
    after = live.store.get_decision(case)
    assert after is not None and (after.score, after.action) == (record.score, record.action)
    assert page.errors == []
