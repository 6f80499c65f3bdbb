"""Several apps: specs and folders of specs, loaded into independent apps."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import sqlalchemy as sa

from doorstep.errors import NotFoundError, SpecError
from doorstep.services.apps.registry import discover_specs, load_registry, register_apps
from doorstep.store import open_store
from doorstep.store.tables import audit_events


def second_app(template: Path, target: Path, name: str) -> Path:
    shutil.copytree(template, target)
    spec = target / "doorstep.yaml"
    spec.write_text(spec.read_text().replace("name: churn", f"name: {name}", 1))
    return spec


def test_a_folder_of_apps_loads_each_one(churn_app_template: Path, tmp_path: Path) -> None:
    second_app(churn_app_template, tmp_path / "apps" / "a", "churn")
    second_app(churn_app_template, tmp_path / "apps" / "b", "churn-b")
    (tmp_path / "apps" / "notes.yaml").write_text("title: not an app\n")
    found = discover_specs([tmp_path / "apps"])
    assert [p.parent.name for p in found] == ["a", "b"]
    registry = load_registry([tmp_path / "apps"])
    assert list(registry.apps) == ["churn", "churn-b"]
    assert registry.get("churn").model is not registry.get("churn-b").model
    with pytest.raises(NotFoundError, match="did you mean 'churn-b'"):
        registry.get("churn-c")
    store = open_store(f"sqlite:///{tmp_path / 'store.db'}")
    register_apps(registry, store, actor="test")
    register_apps(registry, store, actor="test")
    assert len(store.model_versions()) == 2
    with store.engine.connect() as conn:
        kinds = conn.execute(sa.select(audit_events.c.kind)).scalars().all()
    store.close()
    assert list(kinds).count("app.loaded") == 4


def test_duplicate_names_and_empty_folders_are_spec_errors(
    churn_app_template: Path, tmp_path: Path
) -> None:
    spec = churn_app_template / "doorstep.yaml"
    copy = second_app(churn_app_template, tmp_path / "copy", "churn")
    with pytest.raises(SpecError, match="already served"):
        load_registry([spec, copy])
    (tmp_path / "empty").mkdir()
    with pytest.raises(SpecError, match="no doorstep.yaml"):
        load_registry([tmp_path / "empty"])
