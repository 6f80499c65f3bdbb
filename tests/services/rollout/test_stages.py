"""Stage changes one person makes: rollback to the previous champion, canary and shadow started,
resized and stopped; refused when the stages moved meanwhile."""

from __future__ import annotations

from pathlib import Path

import pytest
from tests.services.rollout.conftest import person

from doorstep.errors import ConflictError, InputError, PermissionDeniedError
from doorstep.services.apps.loading import LoadedApp
from doorstep.services.governance.audit import verify_audit
from doorstep.services.rollout import stages
from doorstep.services.rollout.promotion import approve_promotion, request_promotion
from doorstep.services.rollout.register import register_spec_model, register_version
from doorstep.services.rollout.stages import Caller
from doorstep.store import Store
from doorstep.store.protocols import StageChange

ME = Caller("cli:ops")


def stage_of(store: Store) -> dict[str, str]:
    return {r["version"]: r["stage"] for r in store.model_versions("churn")}


@pytest.fixture
def first(store: Store, churn_loaded_app: LoadedApp, retrained: Path, tmp_path: Path) -> str:
    register_spec_model(churn_loaded_app, store, actor="serve", models=tmp_path)
    register_version(churn_loaded_app, store, retrained, version="2", models=tmp_path, actor="t")
    return churn_loaded_app.model_version


def test_rollback_returns_to_the_previous_champion_at_once(
    store: Store, churn_loaded_app: LoadedApp, first: str
) -> None:
    with pytest.raises(ConflictError, match="nothing to roll back to"):
        stages.rollback(store, "churn", caller=ME, reason="r")
    spec = churn_loaded_app.spec
    request_promotion(store, spec, "2", caller=person(store, "ana"), reason="r")
    approve_promotion(store, spec, "2", caller=person(store, "ben"), reason="r")
    with pytest.raises(PermissionDeniedError):
        stages.rollback(store, "churn", caller=person(store, "vi", "viewer"), reason="r")
    assert stages.rollback(store, "churn", caller=ME, reason="errors") == ("2", first)
    assert stage_of(store) == {first: "champion", "2": "retired"}
    last = store.model_stage_history("churn")[-1]
    assert (last["to_stage"], last["actor"], last["reason"]) == ("champion", "cli:ops", "errors")
    # and back again: the previous champion is 2
    assert stages.rollback(store, "churn", caller=ME, reason="fixed") == (first, "2")
    assert verify_audit(store).ok


def test_a_canary_starts_changes_share_moves_over_and_stops(store: Store, first: str) -> None:
    with pytest.raises(InputError, match="at most 50"):
        stages.start_canary(store, "churn", "2", 0.9, caller=ME, reason="")
    with pytest.raises(ConflictError, match="champion"):
        stages.start_canary(store, "churn", first, 0.1, caller=ME, reason="")
    stages.start_canary(store, "churn", "2", 0.1, caller=ME, reason="")
    stages.start_canary(store, "churn", "2", 0.2, caller=ME, reason="more")
    row = next(r for r in store.model_versions("churn") if r["version"] == "2")
    assert row["stage"] == "canary" and row["canary_share"] == pytest.approx(0.2)
    assert stages.stop_canary(store, "churn", caller=ME, reason="") == "2"
    assert stage_of(store)["2"] == "candidate"
    with pytest.raises(ConflictError, match="no canary"):
        stages.stop_canary(store, "churn", caller=ME, reason="")
    history = store.model_stage_history("churn")
    assert [(c["to_stage"], c["share"]) for c in history[-3:]] == [
        ("canary", pytest.approx(0.1)),
        ("canary", pytest.approx(0.2)),
        ("candidate", None),
    ]
    assert history[-1]["reason"] == "canary stopped"
    assert verify_audit(store).ok


def test_a_shadow_starts_and_stops(store: Store, first: str) -> None:
    stages.start_shadow(store, "churn", "2", caller=ME, reason="try it")
    assert stage_of(store)["2"] == "shadow"
    with pytest.raises(ConflictError, match="shadow already"):
        stages.start_shadow(store, "churn", "2", caller=ME, reason="")
    assert stages.stop_shadow(store, "churn", caller=ME, reason="") == "2"
    assert stage_of(store) == {first: "champion", "2": "candidate"}


def test_a_change_prepared_on_stale_stages_is_refused(store: Store, first: str) -> None:
    _, generation = store.model_stages("churn")
    stages.start_shadow(store, "churn", "2", caller=ME, reason="")
    with pytest.raises(ConflictError, match="changed while"):
        store.change_model_stages(
            "churn", [StageChange("2", "canary", 0.1)], actor="t", reason="r", expect=generation
        )
    assert stage_of(store)["2"] == "shadow"


def test_a_stage_edited_without_its_event_is_found_by_the_audit(store: Store, first: str) -> None:

    from doorstep.store.tables import model_versions

    stages.start_canary(store, "churn", "2", 0.1, caller=ME, reason="")
    assert verify_audit(store).ok
    with store.engine.begin() as conn:
        conn.execute(
            model_versions.update().where(model_versions.c.version == "2").values(canary_share=0.5)
        )
    report = verify_audit(store)
    assert (report.problem, report.details["fields"]) == ("edited", ["canary_share"])
    assert report.details["id"] == "churn/2"
    with store.engine.begin() as conn:
        conn.execute(
            model_versions.update()
            .where(model_versions.c.version == "2")
            .values(stage="champion", canary_share=None)
        )
    report = verify_audit(store)
    assert report.problem == "edited" and "stage" in report.details["fields"]
