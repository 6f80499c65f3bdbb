"""What a server serves: the stages' champion, canary and shadow, one swap per change; a
canary's entities decided by its version through the one decision path."""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

import polars as pl
import pytest

from doorstep.core.policy import control_values
from doorstep.core.routing import in_canary
from doorstep.services.apps.loading import LoadedApp
from doorstep.services.apps.registry import Registry
from doorstep.services.decide.batch import decide_batch
from doorstep.services.rollout import stages
from doorstep.services.rollout.register import register_spec_model, register_version
from doorstep.services.rollout.serving import LiveApps
from doorstep.services.rollout.stages import Caller
from doorstep.store import Store
from doorstep.store.protocols import StageChange

ME = Caller("cli:ops")


@pytest.fixture
def live(store: Store, churn_registry: Registry, retrained: Path, tmp_path: Path) -> LiveApps:
    app = churn_registry.get("churn")
    register_spec_model(app, store, actor="serve", models=tmp_path)
    register_version(app, store, retrained, version="2", models=tmp_path / "m", actor="t")
    served = LiveApps(churn_registry)
    assert served.refresh(store)
    return served


def test_the_champion_of_the_stages_is_served_after_one_swap(
    store: Store, live: LiveApps, churn_loaded_app: LoadedApp
) -> None:
    before = live.current
    assert before.get("churn").model_version == churn_loaded_app.model_version
    assert not live.refresh(store)  # nothing changed: nothing read, nothing swapped
    assert live.current is before
    store.change_model_stages(
        "churn",
        [StageChange(churn_loaded_app.model_version, "retired"), StageChange("2", "champion")],
        actor="t",
        reason="r",
        expect=None,
    )
    assert live.refresh(store)
    after = live.current.get("churn")
    assert after.model_version == "2" and after.model is not churn_loaded_app.model
    assert before.get("churn").model_version == churn_loaded_app.model_version  # untouched
    row = next(r for r in store.model_versions("churn") if r["version"] == "2")
    assert after.model.metadata.content_hash == row["content_hash"]


def test_a_canary_decides_its_entities_and_nothing_else_changes(
    store: Store, live: LiveApps, churn_loaded_app: LoadedApp, churn_app_template: Path
) -> None:
    stages.start_canary(store, "churn", "2", 0.3, caller=ME, reason="")
    live.refresh(store)
    served = live.current.get("churn")
    assert served.canary is not None and served.canary.share == pytest.approx(0.3)
    frame = pl.read_parquet(churn_app_template / "customers.parquet").head(400)
    mixed = decide_batch(served, frame, explain=True).decisions
    alone = decide_batch(churn_loaded_app, frame, explain=True).decisions
    ids = frame[churn_loaded_app.spec.inputs.id].cast(pl.String)
    chosen = in_canary("churn", ids, 0.3)
    assert 0.2 < chosen.mean() < 0.4
    assert mixed["row"].to_list() == alone["row"].to_list()
    versions = mixed["model_version"].to_numpy()
    assert (versions[chosen] == "2").all()
    assert (versions[~chosen] == churn_loaded_app.model_version).all()
    # the same control group: the app's hash of the entity, wherever an action was chosen
    share = churn_loaded_app.spec.policy.control_group
    assert share > 0
    held = (mixed["action"] != "none").to_numpy() & (control_values("churn", ids) < share)
    assert mixed["control"].to_list() == held.tolist()
    champion_rows = mixed.filter(~pl.Series(chosen))
    assert champion_rows["score"].to_list() == alone.filter(~pl.Series(chosen))["score"].to_list()
    assert mixed.filter(pl.Series(chosen))["score"].to_list() != (
        alone.filter(pl.Series(chosen))["score"].to_list()
    )
    hashes = set(zip(mixed["model_version"], mixed["model_hash"], strict=True))
    registered = {(r["version"], r["content_hash"]) for r in store.model_versions("churn")}
    assert hashes <= registered and len(hashes) == 2


def test_a_version_that_cannot_be_loaded_keeps_what_is_served(
    store: Store, live: LiveApps, caplog: pytest.LogCaptureFixture
) -> None:
    row = next(r for r in store.model_versions("churn") if r["version"] == "2")
    shutil.rmtree(Path(row["path"]).parent)
    stages.start_shadow(store, "churn", "2", caller=ME, reason="")
    with caplog.at_level(logging.ERROR, logger="doorstep.rollout"):
        assert live.refresh(store)
    assert live.current.get("churn").shadow is None
    assert "keeps serving" in caplog.text
