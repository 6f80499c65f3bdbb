"""Registering a model version: the file is checked against the app exactly as at load time
(inputs, categories, the policy's columns, explanations and their additivity on the reference),
kept content-addressed, and recorded with its hash, owner, notes and who registered it."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from doorstep.errors import ConflictError, ModelMisfitError, SpecError, SpecIssue
from doorstep.services.apps.loading import LoadedApp, with_model
from doorstep.services.rollout.files import keep_model_file
from doorstep.store.protocols import ModelVersionStore, Stage

__all__ = ["SPEC_REASON", "Registration", "register_spec_model", "register_version"]

logger = logging.getLogger("doorstep.rollout")


@dataclass(frozen=True)
class Registration:
    """A version registered (``created``) or found registered already with the same hash."""

    version: dict[str, Any]
    created: bool


def register_version(
    app: LoadedApp,
    store: ModelVersionStore,
    source: Path,
    *,
    version: str,
    models: Path,
    actor: str,
    notes: str | None = None,
) -> Registration:
    """Check ``source`` against ``app``, keep it under ``models`` and register it as a
    ``candidate`` version ``version``. A model that does not fit raises
    :class:`ModelMisfitError` naming the file and, located in the spec, what it breaks; a
    version name already taken by another file raises :class:`ConflictError`."""
    if not version.strip() or len(version) > 200:
        raise ConflictError(f"A version needs a name of 1 to 200 characters; got {version!r}.")
    source = source.resolve()
    try:
        checked = with_model(app, source, version=version)
    except SpecError as exc:
        raise ModelMisfitError(
            f"Version {version!r} ({source}) does not fit app {app.name!r}:",
            [_about(issue, source, version) for issue in exc.issues],
        ) from None
    content = checked.model.metadata.content_hash
    for row in store.model_versions(app.name):
        if row["version"] == version and row["content_hash"] != content:
            raise ConflictError(
                f"Version {version!r} of app {app.name!r} is registered with another file "
                f"(hash {row['content_hash'].removeprefix('sha256:')[:12]}…); give this one "
                "a new version."
            )
    kept = keep_model_file(source, models, content)
    reference = app.spec.reference
    created = store.register_model_version(
        app.name,
        version,
        content,
        app.spec.app.owner,
        actor=actor,
        notes=notes,
        path=str(kept),
        reference=None if reference is None else str((app.root / reference.path).resolve()),
    )
    row = next(r for r in store.model_versions(app.name) if r["version"] == version)
    return Registration(row, created)


def _about(issue: SpecIssue, source: Path, version: str) -> SpecIssue:
    """The issue, saying which file it is about (the spec locates the contract it breaks)."""
    message = f"version {version!r} ({source}) does not fit: {issue.message}"
    return SpecIssue(issue.file, issue.line, issue.key, message)


SPEC_REASON = "named by the spec (model.path)"
"""The reason recorded when the spec's model becomes the champion."""


def register_spec_model(
    app: LoadedApp, store: ModelVersionStore, *, actor: str, models: Path | None
) -> None:
    """Register the model the spec names (kept under ``models`` when given).

    The spec names the first champion. A model the spec names later (``model.path`` edited)
    becomes the champion too, as before versions had stages — unless the champion now came
    from a promotion or a rollback, which a spec edit does not undo: then it is registered as
    a ``candidate`` (promote it) and a warning is logged."""
    content = app.model.metadata.content_hash
    rows = store.model_versions(app.name)
    if any(r["version"] == app.model_version and r["content_hash"] == content for r in rows):
        return
    champion = next((r for r in rows if r["stage"] == "champion"), None)
    stage: Stage | None = "champion"
    if champion is not None:
        latest = [c for c in store.model_stage_history(app.name) if c["to_stage"] == "champion"]
        if latest and latest[-1]["reason"] != SPEC_REASON:
            stage = None
            logger.warning(
                "app %s: the spec's model (version %s) is registered as a candidate; version "
                "%s stays the champion (it was %s). Promote the new one with 'doorstep models "
                "promote'.",
                app.name,
                app.model_version,
                champion["version"],
                latest[-1]["reason"],
            )
    source = app.root / app.spec.model.path
    kept = None if models is None else str(keep_model_file(source.resolve(), models, content))
    reference = app.spec.reference
    store.register_model_version(
        app.name,
        app.model_version,
        content,
        app.spec.app.owner,
        actor=actor,
        path=kept,
        reference=None if reference is None else str((app.root / reference.path).resolve()),
        stage=stage,
        reason=SPEC_REASON,
    )
