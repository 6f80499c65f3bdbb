"""The dashboard's headline in Chromium, against the store: with no outcomes it says so and
what is needed; with outcomes recorded it shows what the store's ROI says over the spec's
period (here: not enough yet, and how long until a conclusion)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import numpy as np
from tests.web.pages.conftest import Site, sign_in

from doorstep.services.monitor.headline import business_headline, headline_report
from doorstep.services.outcomes.ingest import record_outcomes
from doorstep.store.protocols import DecisionQuery
from doorstep.web.pages.monitoring_panel import PanelReports


def test_the_headline_says_what_the_stores_outcomes_support(page: Any, live: Site) -> None:
    app = live.app.state.service.registry.get("churn")
    sign_in(page, live, "viewer", "/apps/churn")
    first = page.locator("#headline-sentence").inner_text()
    assert first.startswith("Not enough outcomes yet: 0 control outcomes over the last 30 days")
    assert page.locator("#headline-number").inner_text() == "0 control outcomes"

    decisions = live.store.list_decisions(DecisionQuery(app="churn", limit=1_000)).items
    rng = np.random.default_rng(3)
    now = datetime.now(UTC)
    outcomes = [
        {
            "decision_id": d.id,
            "churned": int(rng.random() < d.score),
            "observed_at": now.isoformat(),
        }
        for d in decisions
    ]
    _, errors = record_outcomes(app.spec, live.store, outcomes, actor="test")
    assert errors == []
    expected = business_headline(app.spec, headline_report(app.spec, live.store, now=now))
    live.app.state.panel_reports = PanelReports()  # the page reuses a report for a minute
    page.reload()
    assert page.locator("#headline-sentence").inner_text() == expected.sentence
    assert page.locator("#headline-number").inner_text().startswith(expected.number)
    assert expected.state == "insufficient" and "until a conclusion" in expected.sentence
    assert page.errors == []
