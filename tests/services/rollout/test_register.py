"""Registering versions: checked as at load time, kept content-addressed, recorded and audited;
the spec's model is the first champion."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from doorstep.errors import ConflictError, ModelMisfitError
from doorstep.models.hashing import content_hash
from doorstep.services.apps.loading import LoadedApp
from doorstep.services.apps.registry import Registry, register_apps
from doorstep.services.rollout.register import SPEC_REASON, register_version
from doorstep.store import Store
from doorstep.store.protocols import StageChange
from doorstep.store.tables import audit_events


def events(store: Store, kind: str) -> list[dict[str, Any]]:
    """The audit events of ``kind``, oldest first."""
    with store.engine.connect() as conn:
        rows = conn.execute(
            sa.select(audit_events).where(audit_events.c.kind == kind).order_by(audit_events.c.seq)
        )
        return [dict(row._mapping) for row in rows]


def stages(store: Store) -> dict[str, str]:
    return {r["version"]: r["stage"] for r in store.model_versions("churn")}


def test_a_model_that_fits_is_kept_and_registered_as_a_candidate(
    store: Store, churn_loaded_app: LoadedApp, retrained: Path, tmp_path: Path
) -> None:
    models = tmp_path / "models"
    done = register_version(
        churn_loaded_app, store, retrained, version="2", models=models, actor="t", notes="Q4"
    )
    row = done.version
    assert done.created and row["stage"] == "candidate" and row["notes"] == "Q4"
    assert row["registered_by"] == "t" and row["owner"] == churn_loaded_app.spec.app.owner
    kept = Path(row["path"])
    digest = content_hash(retrained)
    assert kept == models / digest.removeprefix("sha256:") / retrained.name
    assert content_hash(kept) == digest == row["content_hash"]
    assert row["reference"] is not None and row["reference"].endswith("reference.parquet")
    again = register_version(
        churn_loaded_app, store, retrained, version="2", models=models, actor="t"
    )
    assert not again.created
    registered = events(store, "model_version.registered")
    assert [e["subject"] for e in registered] == ["churn/2"]
    assert registered[0]["payload"]["notes"] == "Q4"
    assert store.verify_audit().ok


def test_a_model_that_does_not_fit_is_refused_located_and_not_kept(
    store: Store, churn_loaded_app: LoadedApp, misfit: Path, tmp_path: Path
) -> None:
    with pytest.raises(ModelMisfitError) as info:
        register_version(
            churn_loaded_app, store, misfit, version="3", models=tmp_path / "m", actor="t"
        )
    issue = info.value.issues[0]
    assert issue.key == "model.path" and issue.line is not None
    assert "version '3'" in issue.message and str(misfit) in issue.message
    assert "Column_0" in str(info.value)
    assert store.model_versions("churn") == [] and not (tmp_path / "m").exists()


def test_a_version_name_is_not_reused_for_another_file(
    store: Store, churn_loaded_app: LoadedApp, retrained: Path, tmp_path: Path
) -> None:
    spec_model = churn_loaded_app.root / churn_loaded_app.spec.model.path
    register_version(churn_loaded_app, store, spec_model, version="2", models=tmp_path, actor="t")
    with pytest.raises(ConflictError, match="another file"):
        register_version(
            churn_loaded_app, store, retrained, version="2", models=tmp_path, actor="t"
        )


def test_the_spec_names_the_first_champion_and_a_promotion_survives_a_spec_edit(
    store: Store,
    churn_loaded_app: LoadedApp,
    churn_registry: Registry,
    retrained: Path,
    tmp_path: Path,
) -> None:
    register_apps(churn_registry, store, actor="serve", models=tmp_path)
    first = churn_loaded_app.model_version
    assert stages(store) == {first: "champion"}
    row = store.model_versions("churn")[0]
    assert Path(row["path"]).is_file() and row["path"].startswith(str(tmp_path))
    # an edited spec (another model) is a deployment, as before versions had stages
    edited = replace(churn_loaded_app, version="from-spec")
    edited_registry = Registry({"churn": edited})
    register_version(churn_loaded_app, store, retrained, version="2", models=tmp_path, actor="t")
    store.change_model_stages(
        "churn",
        [StageChange(first, "retired"), StageChange("2", "champion")],
        actor="key:ana",
        reason="promotion p: better AUC",
        expect=None,
    )
    register_apps(edited_registry, store, actor="serve", models=tmp_path)
    assert stages(store)["from-spec"] == "candidate" and stages(store)["2"] == "champion"
    history = store.model_stage_history("churn")
    assert history[0]["reason"] == SPEC_REASON and history[0]["to_stage"] == "champion"
    assert store.verify_audit().ok
