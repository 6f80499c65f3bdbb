"""Four eyes: a promotion is requested by one key and approved by another of role owner or
admin (``governance.approvals`` of them, among ``governance.approvers`` when named); a pending
one can be withdrawn; every step is audited and the chain verifies."""

from __future__ import annotations

from pathlib import Path

import pytest
from tests.services.rollout.conftest import person

from doorstep.core.spec.governance import GovernanceSpec
from doorstep.core.spec.models import Spec
from doorstep.errors import ConflictError, InputError, NotFoundError, PermissionDeniedError
from doorstep.services.apps.loading import LoadedApp
from doorstep.services.governance.audit import verify_audit
from doorstep.services.rollout.promotion import (
    approve_promotion,
    request_promotion,
    withdraw_promotion,
)
from doorstep.services.rollout.register import register_spec_model, register_version
from doorstep.services.rollout.stages import Caller
from doorstep.store import Store


@pytest.fixture
def two_versions(
    store: Store, churn_loaded_app: LoadedApp, retrained: Path, tmp_path: Path
) -> tuple[str, str]:
    """The spec's model as champion, the retrained one registered as ``2``."""
    register_spec_model(churn_loaded_app, store, actor="serve", models=tmp_path)
    register_version(churn_loaded_app, store, retrained, version="2", models=tmp_path, actor="t")
    return churn_loaded_app.model_version, "2"


def governed(app: LoadedApp, **governance: object) -> Spec:
    return app.spec.model_copy(update={"governance": GovernanceSpec.model_validate(governance)})


def stages(store: Store) -> dict[str, str]:
    return {r["version"]: r["stage"] for r in store.model_versions("churn")}


def test_one_key_cannot_promote_alone_and_two_can(
    store: Store, churn_loaded_app: LoadedApp, two_versions: tuple[str, str]
) -> None:
    first, second = two_versions
    spec = churn_loaded_app.spec
    ana, ben = person(store, "ana"), person(store, "ben")
    promotion = request_promotion(store, spec, second, caller=ana, reason="better AUC")
    assert promotion["state"] == "pending" and promotion["approvals_required"] == 1
    with pytest.raises(PermissionDeniedError, match="four eyes"):
        approve_promotion(store, spec, second, caller=ana, reason="looks good")
    with pytest.raises(PermissionDeniedError, match="viewer"):
        approve_promotion(store, spec, second, caller=person(store, "vi", "viewer"), reason="x")
    with pytest.raises(PermissionDeniedError, match="API key"):
        approve_promotion(store, spec, second, caller=Caller("cli:someone"), reason="x")
    assert stages(store) == {first: "champion", second: "candidate"}
    done = approve_promotion(store, spec, second, caller=ben, reason="checked the backtest")
    assert done["state"] == "approved" and done["closed_by"] == "key:ben"
    assert [a["approver"] for a in done["approvals"]] == ["key:ben"]
    assert stages(store) == {first: "retired", second: "champion"}
    last = store.model_stage_history("churn")[-1]
    assert (last["version"], last["to_stage"], last["actor"]) == (second, "champion", "key:ben")
    assert "better AUC" in last["reason"]
    assert verify_audit(store).ok


def test_a_second_key_of_the_same_name_is_not_a_second_person(
    store: Store, churn_loaded_app: LoadedApp, two_versions: tuple[str, str]
) -> None:
    spec = churn_loaded_app.spec
    request_promotion(store, spec, "2", caller=person(store, "ana"), reason="r")
    with pytest.raises(PermissionDeniedError):
        approve_promotion(store, spec, "2", caller=person(store, "ana"), reason="again")


def test_governance_asks_for_more_approvals_and_names_the_approvers(
    store: Store, churn_loaded_app: LoadedApp, two_versions: tuple[str, str]
) -> None:
    first, second = two_versions
    spec = governed(churn_loaded_app, approvals=2, approvers=["ben"], owners=["cy"])
    request_promotion(store, spec, second, caller=person(store, "ana"), reason="r")
    with pytest.raises(PermissionDeniedError, match="approvers"):
        approve_promotion(store, spec, second, caller=person(store, "dan"), reason="x")
    ben = person(store, "ben")
    once = approve_promotion(store, spec, second, caller=ben, reason="one")
    assert once["state"] == "pending" and stages(store)[second] == "candidate"
    with pytest.raises(ConflictError, match="already"):
        approve_promotion(store, spec, second, caller=ben, reason="twice")
    twice = approve_promotion(store, spec, second, caller=person(store, "cy", "admin"), reason="2")
    assert twice["state"] == "approved" and stages(store) == {first: "retired", second: "champion"}
    assert verify_audit(store).ok


def test_a_pending_promotion_can_be_withdrawn_and_blocks_another(
    store: Store, churn_loaded_app: LoadedApp, two_versions: tuple[str, str]
) -> None:
    spec = churn_loaded_app.spec
    ana = person(store, "ana")
    with pytest.raises(InputError, match="reason"):
        request_promotion(store, spec, "2", caller=ana, reason=" ")
    with pytest.raises(NotFoundError, match="versions registered"):
        request_promotion(store, spec, "9", caller=ana, reason="r")
    request_promotion(store, spec, "2", caller=ana, reason="r")
    with pytest.raises(ConflictError, match="pending promotion"):
        request_promotion(store, spec, "2", caller=person(store, "ben"), reason="r")
    withdrawn = withdraw_promotion(store, "churn", "2", caller=ana, reason="found a bug")
    assert withdrawn["state"] == "withdrawn"
    with pytest.raises(NotFoundError, match="pending"):
        approve_promotion(store, spec, "2", caller=person(store, "cy"), reason="late")
    assert stages(store)["2"] == "candidate"
    kinds = [p["state"] for p in store.model_promotions("churn")]
    assert kinds == ["withdrawn"]
    assert verify_audit(store).ok
