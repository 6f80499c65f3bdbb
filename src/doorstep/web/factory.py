"""Build the API from spec paths and a database URL; :func:`app_from_env` is the factory that
``doorstep serve --workers N`` hands to uvicorn, so each worker process loads the apps itself."""

from __future__ import annotations

import json
import logging
import os
from dataclasses import asdict
from pathlib import Path

from fastapi import FastAPI

from doorstep.errors import SpecError, SpecIssue
from doorstep.services.apps.registry import load_registry, register_apps
from doorstep.services.apps.source_checks import check_sources
from doorstep.services.deliver.connectors import open_app_connectors
from doorstep.services.rollout.files import MODELS_FOLDER
from doorstep.store import open_store
from doorstep.store.protocols import StoreContract
from doorstep.web.app import create_app
from doorstep.web.settings import ServeSettings

__all__ = ["SETTINGS_ENV", "SPECS_ENV", "app_from_env", "build_app", "export_env"]

SPECS_ENV = "DOORSTEP_SERVE_SPECS"
SETTINGS_ENV = "DOORSTEP_SERVE_SETTINGS"
ACTOR = "doorstep serve"
logger = logging.getLogger("doorstep.features")


def build_app(specs: list[Path], store: StoreContract, settings: ServeSettings) -> FastAPI:
    """Load the apps, check their connectors' settings, probe their feature sources, register
    their model versions (and an ``app.loaded`` event), serve them.

    A source that can never work (a missing table, no driver, a host that does not exist)
    stops start-up, located in its spec; one that cannot be reached now is a warning
    (``state.warnings``): the app serves, answering 503 for what needs it until it answers."""
    registry = load_registry(specs)
    issues: list[SpecIssue] = []
    warnings: list[str] = []
    for app in registry:
        open_app_connectors(app).close()  # a refused setting stops start-up, located in its spec
        report = check_sources(app.doc, app.root)
        issues += report.issues
        warnings += report.warnings
    if issues:
        raise SpecError(issues)
    register_apps(registry, store, actor=ACTOR, models=Path(settings.home) / MODELS_FOLDER)
    api = create_app(registry, store, settings)
    api.state.service.live.refresh(store)  # serve what the stages say from the first request
    api.state.warnings = tuple(warnings)
    return api


def export_env(specs: list[Path], db: str | None, settings: ServeSettings) -> None:
    """Hand the serve options to worker processes through the environment."""
    os.environ[SPECS_ENV] = os.pathsep.join(str(p.resolve()) for p in specs)
    os.environ[SETTINGS_ENV] = json.dumps(asdict(settings))
    if db is not None:
        os.environ["DOORSTEP_DATABASE_URL"] = db


def app_from_env() -> FastAPI:
    """uvicorn factory: ``uvicorn --factory doorstep.web.factory:app_from_env``."""
    specs = [Path(p) for p in os.environ.get(SPECS_ENV, "").split(os.pathsep) if p]
    settings = ServeSettings(**json.loads(os.environ.get(SETTINGS_ENV, "{}")))
    api = build_app(specs, open_store(pool_size=settings.db_pool_size), settings)
    for warning in api.state.warnings:
        logger.warning("%s", warning)
    return api
