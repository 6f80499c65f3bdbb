"""The apps a server hosts: several spec files, or folders of them, loaded into independent apps.

``doorstep serve churn/doorstep.yaml fraud/doorstep.yaml`` and ``doorstep serve apps/`` both
end here. Each app keeps its own model, policy and reference data; their names must differ.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from doorstep.core.suggest import did_you_mean
from doorstep.errors import NotFoundError, SpecError, SpecIssue, StoreUnavailableError
from doorstep.services.apps.loading import LoadedApp, load_app
from doorstep.services.rollout.register import register_spec_model
from doorstep.store.protocols import AuditStore, ModelVersionStore, StoreContract

__all__ = [
    "AppRegistrationStore",
    "Registry",
    "discover_specs",
    "load_registry",
    "register_apps",
    "check_ready",
]


logger = logging.getLogger("doorstep.apps")


class AppRegistrationStore(AuditStore, ModelVersionStore, Protocol):
    """What registering apps writes: their model versions and an ``app.loaded`` event each."""


SPEC_NAME = "doorstep.yaml"


@dataclass(frozen=True)
class Registry:
    """Loaded apps by name, in the order their specs were given."""

    apps: Mapping[str, LoadedApp]

    def get(self, name: str) -> LoadedApp:
        """The app called ``name``; :class:`NotFoundError` (with a suggestion) otherwise."""
        app = self.apps.get(name)
        if app is None:
            known = ", ".join(repr(n) for n in self.apps) or "none"
            raise NotFoundError(
                f"There is no app {name!r}{did_you_mean(name, self.apps)}. Apps served: {known}."
            )
        return app

    def __iter__(self) -> Iterator[LoadedApp]:
        return iter(self.apps.values())

    def __len__(self) -> int:
        return len(self.apps)


def discover_specs(paths: Sequence[Path]) -> list[Path]:
    """Spec files named by ``paths``: a file is taken as is; a folder contributes every
    ``*/doorstep.yaml`` below it and every ``*.yaml`` in it whose top level has an ``app:`` key."""
    found: list[Path] = []
    for path in paths:
        if path.is_dir():
            inside = [path / SPEC_NAME] if (path / SPEC_NAME).is_file() else []
            inside += sorted(p for p in path.glob(f"*/{SPEC_NAME}") if p.is_file())
            inside += sorted(
                p
                for p in path.glob("*.yaml")
                if p.name != SPEC_NAME and p.is_file() and _declares_app(p)
            )
            if not inside:
                raise SpecError(
                    [SpecIssue(str(path), None, "", f"no {SPEC_NAME} or app spec in this folder")]
                )
            found += inside
        else:
            found.append(path)
    unique = list(dict.fromkeys(p.resolve() for p in found))
    return unique


def load_registry(paths: Sequence[Path], env: Mapping[str, str] | None = None) -> Registry:
    """Load every spec of ``paths`` (see :func:`discover_specs`); report every broken one."""
    apps: dict[str, LoadedApp] = {}
    issues: list[SpecIssue] = []
    where: dict[str, Path] = {}
    for spec in discover_specs(paths):
        try:
            app = load_app(spec, env)
        except SpecError as exc:
            issues += exc.issues
            continue
        if app.name in apps:
            issues.append(
                SpecIssue(
                    str(spec),
                    None,
                    "app.name",
                    f"app {app.name!r} is already served from {where[app.name]}; "
                    "give each app its own name",
                )
            )
            continue
        apps[app.name], where[app.name] = app, spec
        for warning in app.warnings:  # what validate shows, e.g. categories the model never saw
            logger.warning("%s", warning)
    if issues:
        raise SpecError(issues)
    return Registry(apps)


def register_apps(
    registry: Registry,
    store: AppRegistrationStore,
    *,
    actor: str,
    models: Path | None = None,
) -> None:
    """Record each app's model version (its file kept under ``models`` when given: see
    :func:`doorstep.services.rollout.register.register_spec_model`) and an ``app.loaded``
    audit event (once per start)."""
    for app in registry:
        metadata = app.model.metadata
        register_spec_model(app, store, actor=actor, models=models)
        payload: dict[str, Any] = {
            "model_version": app.model_version,
            "model_hash": metadata.content_hash,
            "model_kind": metadata.kind,
            "spec": app.doc.file,
            "owner": app.spec.app.owner,
        }
        store.append_audit("app.loaded", app.name, payload, actor=actor)


def _declares_app(path: Path) -> bool:
    try:
        with path.open(encoding="utf-8") as handle:
            return any(line.startswith("app:") for line in handle)
    except OSError:
        return False


def check_ready(registry: Registry, store: StoreContract) -> list[str]:
    """The names of the apps served, when the store answers and at least one app is loaded;
    :class:`StoreUnavailableError` otherwise (``/readyz`` answers 503)."""
    store.ping()
    if not len(registry):
        raise StoreUnavailableError("No app is loaded yet.")
    return list(registry.apps)
