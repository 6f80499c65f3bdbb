"""The models page in-process: stages, the pending promotion, the comparison, the buttons only
owners and admins see, four eyes refused and granted, a stale page refused. In Chromium:
``test_models_browser.py``."""

from __future__ import annotations

import re
import shutil
from contextlib import aclosing
from datetime import UTC, datetime, timedelta
from html import unescape
from pathlib import Path

import polars as pl
import pytest
from tests.web.pages.conftest import Site, session_client

from doorstep.examples.churn import generate_customers, train_model
from doorstep.examples.churn.outcomes import simulate_outcomes
from doorstep.services.apps.examples import decide_sample
from doorstep.services.apps.loading import LoadedApp, with_model
from doorstep.services.apps.registry import load_registry
from doorstep.services.decide.batch import decide_batch
from doorstep.services.decide.recording import record_batch
from doorstep.services.outcomes.ingest import record_outcomes
from doorstep.services.rollout.compare import compare_versions
from doorstep.services.rollout.register import register_spec_model, register_version
from doorstep.services.rollout.stages import Caller, start_shadow
from doorstep.store import DecisionQuery, open_store
from doorstep.store.shadow_records import shadow_of
from doorstep.web import ServeSettings, create_app

GENERATION = re.compile(r'name="generation" value="(\d+)"')


@pytest.fixture(scope="module")
def next_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("next-model") / "model-v2.lgb.txt"
    train_model(generate_customers(1_500, seed=11), trees=15, seed=11).save_model(str(path))  # type: ignore[attr-defined]
    return path


def churn(site: Site) -> LoadedApp:
    app: LoadedApp = site.app.state.service.registry.get("churn")
    return app


@pytest.fixture
def versions(seeded: Site, next_model: Path, tmp_path: Path) -> Site:
    """``seeded`` with the spec's model as champion and version 2 registered as candidate."""
    app = churn(seeded)
    kept = tmp_path / "models"
    register_spec_model(app, seeded.store, actor="test", models=kept)
    register_version(
        app, seeded.store, next_model, version="2", models=kept, actor="test", notes="retrained"
    )
    return seeded


def stages(site: Site) -> dict[str, str]:
    return {r["version"]: r["stage"] for r in site.store.model_versions("churn")}


def form_fields(html: str) -> dict[str, str]:
    """The hidden fields every change on the page carries, as the page showed them."""
    generation = GENERATION.search(html)
    assert generation is not None
    found = re.search(r'name="promotion" value="([^"]*)"', html)
    assert found is not None
    return {"generation": generation.group(1), "promotion": found.group(1)}


def shadow_with_outcomes(site: Site, next_model: Path, template: Path) -> None:
    """Version 2 in shadow beside the champion on the stored decisions, all with an outcome."""
    app = churn(site)
    start_shadow(site.store, "churn", "2", caller=Caller("test"), reason="try it")
    shadow = with_model(app, next_model, version="2")
    recorded = site.store.list_decisions(DecisionQuery(app="churn", limit=500)).items
    records = [d.inputs for d in recorded]
    batch = decide_batch(shadow, pl.DataFrame(records))
    theirs = record_batch(shadow, batch, records, now=recorded[0].created_at)
    site.store.record_shadow(
        [shadow_of(s, d.id) for s, d in zip(theirs.decisions, recorded, strict=True)]
    )
    ids = [d.entity_id for d in recorded]
    customers = pl.read_parquet(template / "customers.parquet")
    customers = customers.filter(pl.col("customer_id").is_in(ids))
    outcomes = simulate_outcomes(
        customers, dict.fromkeys(ids, False), observed_at=datetime.now(UTC)
    )
    record_outcomes(app.spec, site.store, outcomes.to_dicts(), actor="test")


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.mark.anyio
@pytest.mark.parametrize("role", ["viewer", "reviewer"])
async def test_viewers_and_reviewers_see_the_versions_but_no_button_and_may_not_post(
    versions: Site, role: str
) -> None:
    client, csrf = await session_client(versions, role)
    async with aclosing(client):
        page = await client.get("/models")
        assert page.status_code == 200
        text = unescape(page.text)
        assert 'data-version="2" data-stage="candidate"' in text and "retrained" in text
        assert '<form method="post" action="/apps/churn/models/' not in text
        assert "Request promotion" not in text and "Roll back" not in text
        before = stages(versions)
        refused = await client.post(
            "/apps/churn/models/promote",
            data={"csrf_token": csrf, "version": "2", "reason": "mine", "generation": "0"},
        )
    assert refused.status_code == 403
    assert f"A {role!r} key may not use /apps/churn/models/promote" in unescape(refused.text)
    assert stages(versions) == before
    assert versions.store.model_promotions("churn") == []


@pytest.mark.anyio
async def test_four_eyes_the_requester_may_not_approve_another_key_may(versions: Site) -> None:
    owner, csrf = await session_client(versions, "owner")
    admin, admin_csrf = await session_client(versions, "admin")
    async with aclosing(owner), aclosing(admin):
        page = await owner.get("/models")
        assert "Request promotion" in page.text and "Roll back" in page.text
        asked = await owner.post(
            "/apps/churn/models/promote",
            data={"csrf_token": csrf, "version": "2", "reason": "better", **form_fields(page.text)},
        )
        assert asked.status_code == 303 and asked.headers["location"].startswith("/models?done=")
        page = await owner.get("/models")
        assert "Promotion of 2 waiting for approval" in page.text
        assert "key:owner-1" in page.text and "Approvals 0 of 1" in page.text
        fields = form_fields(page.text)
        assert fields["promotion"] != ""
        mine = await owner.post(
            "/apps/churn/models/approve",
            data={"csrf_token": csrf, "version": "2", "reason": "fine", **fields},
        )
        assert mine.status_code == 403
        assert "may not approve it too" in unescape(mine.text) and 'id="models-error"' in mine.text
        assert mine.headers["HX-Replace-Url"] == "/models"
        assert stages(versions)["2"] == "candidate"
        approved = await admin.post(
            "/apps/churn/models/approve",
            data={"csrf_token": admin_csrf, "version": "2", "reason": "checked", **fields},
        )
        assert approved.status_code == 303
    assert stages(versions)["2"] == "champion"
    assert churn(versions).model_version == "2"  # this process serves it at once


@pytest.mark.anyio
async def test_a_change_from_a_page_opened_before_another_change_is_refused(
    versions: Site,
) -> None:
    owner, csrf = await session_client(versions, "owner")
    async with aclosing(owner):
        page = await owner.get("/models")
        fields = form_fields(page.text)
        start_shadow(versions.store, "churn", "2", caller=Caller("key:admin-1"), reason="try it")
        stale = await owner.post(
            "/apps/churn/models/promote",
            data={"csrf_token": csrf, "version": "2", "reason": "better", **fields},
        )
        assert stale.status_code == 409
        assert "changed since this page was opened" in stale.text
        assert versions.store.model_promotions("churn") == []
        fresh = form_fields(stale.text)  # the refusal shows the page as it is now
        assert fresh["generation"] != fields["generation"]
        assert "Stop the shadow (2)" in stale.text
        stopped = await owner.post(
            "/apps/churn/models/stop-shadow",
            data={"csrf_token": csrf, "reason": "enough", **fresh},
        )
        assert stopped.status_code == 303
        assert stages(versions)["2"] == "candidate"
        unknown = await owner.post(
            "/apps/churn/models/promote",
            data={
                "csrf_token": csrf,
                "version": "9",
                "reason": "x",
                **form_fields((await owner.get("/models")).text),
            },
        )
        assert unknown.status_code == 404 and "has no model version '9'" in unescape(unknown.text)
        blank = await owner.post(
            "/apps/churn/models/promote",
            data={
                "csrf_token": csrf,
                "version": "2",
                "reason": " ",
                **form_fields((await owner.get("/models")).text),
            },
        )
        assert blank.status_code == 422 and "give a reason" in blank.text
    assert versions.store.model_promotions("churn") == []


@pytest.mark.anyio
async def test_the_comparison_of_a_shadow_shows_its_verdict_and_both_metrics(
    versions: Site, next_model: Path, churn_app_template: Path
) -> None:
    app = churn(versions)
    shadow_with_outcomes(versions, next_model, churn_app_template)
    client, _ = await session_client(versions, "viewer")
    async with aclosing(client):
        page = await client.get("/models")
    text = unescape(page.text)
    assert "Champion against shadow 2" in text
    section = text[text.index('id="compare-churn"') :]
    verdict = re.search(r'<p class="verdict">([^<]*)</p>', section)
    assert verdict is not None and "points of AUC" in verdict.group(1), section[:400]
    rows = re.findall(r"<tr><td>([^<]+)</td><td>(\w+)</td>.*?<td>([\d.]+) <span", section)
    assert [(v, r) for v, r, _ in rows] == [(app.model_version, "champion"), ("2", "shadow")]
    assert all(0.0 <= float(auc) <= 1.0 for _, _, auc in rows)


@pytest.mark.anyio
async def test_a_shadow_and_a_canary_in_the_range_are_each_compared(
    versions: Site, next_model: Path, churn_app_template: Path, tmp_path: Path
) -> None:
    app = churn(versions)
    shadow_with_outcomes(versions, next_model, churn_app_template)
    customers = pl.read_parquet(churn_app_template / "customers.parquet").head(200)
    customers = customers.with_columns(pl.col("customer_id") + "-canary")  # other entities
    customers.write_parquet(tmp_path / "canary.parquet")
    canary = with_model(app, next_model, version="2")  # 200 entities decided by version 2
    decide_sample(canary, versions.store, tmp_path / "canary.parquet", count=200)
    ids = customers["customer_id"].to_list()
    outcomes = simulate_outcomes(
        customers, dict.fromkeys(ids, False), observed_at=datetime.now(UTC)
    )
    record_outcomes(app.spec, versions.store, outcomes.to_dicts(), actor="test")
    client, _ = await session_client(versions, "viewer")
    async with aclosing(client):
        text = unescape((await client.get("/models")).text)
    assert "Champion against shadow 2" in text and "Champion against canary 2" in text
    shown = {}
    for mode in ("shadow", "canary"):
        section = text[text.index(f'id="compare-churn-{mode}"') :]
        section = section[: section.index("</table>")]
        verdict = re.search(r'<p class="verdict">([^<]*)</p>', section)
        rows = re.findall(r"<tr><td>([^<]+)</td><td>(\w+)</td><td[^>]*>([\d,]+)</td>", section)
        assert verdict is not None
        shown[mode] = (verdict.group(1), rows)
    assert text.index('id="compare-churn-shadow"') < text.index('id="compare-churn-canary"')
    champion = app.model_version
    assert shown["shadow"][1] == [(champion, "champion", "500"), ("2", "shadow", "500")]
    assert shown["canary"][1] == [(champion, "champion", "500"), ("2", "canary", "200")]
    expected = compare_versions(app.spec, versions.store, champion=str(champion), mode="canary")
    assert shown["canary"][0] == expected.verdict  # as `doorstep models compare --mode canary`


@pytest.mark.anyio
async def test_governance_sets_the_approvals_the_approvers_and_the_revalidation_date(
    churn_app_template: Path, next_model: Path, tmp_path: Path
) -> None:
    folder = tmp_path / "churn"
    shutil.copytree(churn_app_template, folder)
    spec = folder / "doorstep.yaml"
    governance = "governance:\n  approvals: 2\n  approvers: [owner-2, admin-1]\n"
    spec.write_text(spec.read_text() + "\n" + governance + "  revalidate_every: 30d\n")
    registry = load_registry([spec])
    store = open_store(f"sqlite:///{tmp_path / 'doorstep.db'}")
    try:
        app = registry.get("churn")
        register_spec_model(app, store, actor="test", models=tmp_path / "models")
        register_version(app, store, next_model, version="2", models=tmp_path / "m", actor="t")
        keys = {n: store.create_key(f"{n}-1", n, actor="test")[1] for n in ("admin", "owner")}
        keys["owner-2"] = store.create_key("owner-2", "owner", actor="test")[1]
        served = create_app(registry, store, ServeSettings(home=str(tmp_path), deliver=False))
        site = Site("http://testserver", store, keys, served)
        [changed] = [c for c in store.model_stage_history("churn") if c["to_stage"] == "champion"]
        due = changed["at"] + timedelta(days=30)
        owner, csrf = await session_client(site, "owner")
        admin, admin_csrf = await session_client(site, "admin")
        async with aclosing(owner), aclosing(admin):
            page = unescape((await owner.get("/models")).text)
            assert "promotions need 2 approvals from owner-2, admin-1" in page
            assert f"revalidation due {due:%Y-%m-%d %H:%M} UTC" in page and "overdue" not in page
            await owner.post(
                "/apps/churn/models/promote",
                data={"csrf_token": csrf, "version": "2", "reason": "r", **form_fields(page)},
            )
            fields = form_fields((await admin.get("/models")).text)
            approved = await admin.post(
                "/apps/churn/models/approve",
                data={"csrf_token": admin_csrf, "version": "2", "reason": "ok", **fields},
            )
            assert approved.status_code == 303
            page = unescape((await admin.get("/models")).text)
        assert "Approvals 1 of 2" in page and "key:admin-1 at" in page
        assert {r["version"]: r["stage"] for r in store.model_versions("churn")}["2"] == "candidate"
    finally:
        store.close()
