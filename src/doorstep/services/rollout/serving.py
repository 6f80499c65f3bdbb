"""What a server serves per app, from the store's stages, switched without a restart.

:func:`served_app` turns an app loaded from its spec into the app the stages say: its champion's
model (the spec's own, or a registered version's kept file), with the canary and the shadow
attached. :class:`LiveApps` holds the served apps as one immutable :class:`Registry` and
replaces it whole — one reference assignment — when the stages change: a request (or a
micro-batch) reads ``live.current`` once at its start and decides entirely with what it read,
so no request sees half of a switch.

Several server processes on one store switch within a bounded time: each polls the store's
stage generation (one cheap read, :meth:`ModelVersionStore.stage_generation`) every
``poll_seconds`` and, when it moved, loads what changed in the background and swaps. A switch
is thus served everywhere at most ``poll_seconds`` plus the time to load and check the new
version's model after it is committed (the process that made the change swaps before it
answers).
"""

from __future__ import annotations

import logging
import threading
from dataclasses import replace
from pathlib import Path
from typing import Any

from doorstep.errors import DoorstepError, NotFoundError, SpecError, SpecIssue
from doorstep.services.apps.loading import Canary, LoadedApp, with_model
from doorstep.services.apps.registry import Registry
from doorstep.store.protocols import ModelVersionStore

__all__ = ["LiveApps", "VersionCache", "registered_version", "served_app", "staged_app"]

logger = logging.getLogger("doorstep.rollout")


class VersionCache:
    """Versions loaded (and checked) once each, by app, version and content hash."""

    def __init__(self) -> None:
        self._loaded: dict[tuple[str, str, str], LoadedApp] = {}

    def load(self, base: LoadedApp, row: dict[str, Any]) -> LoadedApp:
        """``base`` deciding with the version of ``row`` (the spec's own model when it is)."""
        if row["content_hash"] == base.model.metadata.content_hash:
            return (
                base
                if row["version"] == base.model_version
                else replace(base, version=row["version"])
            )
        key = (base.name, row["version"], row["content_hash"])
        loaded = self._loaded.get(key)
        if loaded is None:
            if not row.get("path"):
                raise SpecError(
                    [
                        SpecIssue(
                            base.doc.file,
                            None,
                            "model.path",
                            f"version {row['version']!r} has no kept model file; register it "
                            "again with 'doorstep models register'",
                        )
                    ]
                )
            loaded = with_model(base, Path(row["path"]), version=row["version"])
            if loaded.model.metadata.content_hash != row["content_hash"]:
                raise SpecError(
                    [
                        SpecIssue(
                            base.doc.file,
                            None,
                            "model.path",
                            f"the kept file of version {row['version']!r} ({row['path']}) "
                            "no longer has its registered hash",
                        )
                    ]
                )
            self._loaded[key] = loaded
        return loaded

    def keep_only(self, apps: Registry) -> None:
        """Forget the versions no served app uses."""
        used: set[tuple[str, str, str]] = set()
        for app in apps:
            for part in (app, app.shadow, app.canary.app if app.canary else None):
                if part is not None:
                    used.add((part.name, part.model_version, part.model.metadata.content_hash))
        self._loaded = {k: v for k, v in self._loaded.items() if k in used}


def served_app(base: LoadedApp, rows: list[dict[str, Any]], cache: VersionCache) -> LoadedApp:
    """The app as the stages of ``rows`` (the app's versions) say: the champion's model, the
    canary and the shadow. With no champion registered, ``base`` as it is."""
    by_stage = {r["stage"]: r for r in rows if r["stage"] in ("champion", "canary", "shadow")}
    champion = by_stage.get("champion")
    app = base if champion is None else cache.load(base, champion)
    canary = by_stage.get("canary")
    shadow = by_stage.get("shadow")
    return replace(
        app,
        canary=None
        if canary is None
        else Canary(cache.load(base, canary), float(canary["canary_share"] or 0.0)),
        shadow=None if shadow is None else cache.load(base, shadow),
    )


def staged_app(app: LoadedApp, store: ModelVersionStore) -> LoadedApp:
    """``app`` (loaded from its spec) as its stages in ``store`` say now: what a command that
    decides into the store (``score --record``, ``score --from``, ``runs resume``) decides
    with, as a server would."""
    return served_app(app, store.model_versions(app.name), VersionCache())


def registered_version(app: LoadedApp, store: ModelVersionStore, version: str) -> LoadedApp:
    """``app`` deciding with its registered version ``version``, whatever its stage (the
    candidate of a backtest); :class:`NotFoundError` naming the versions there are otherwise."""
    rows = store.model_versions(app.name)
    row = next((r for r in rows if r["version"] == version), None)
    if row is None:
        known = ", ".join(repr(r["version"]) for r in rows) or "none"
        raise NotFoundError(
            f"App {app.name!r} has no registered version {version!r} (registered: {known}); "
            "register it with 'doorstep models register', or give its file with --model."
        )
    return replace(VersionCache().load(app, row), canary=None, shadow=None)


class LiveApps:
    """The apps served now (:attr:`current`), refreshed from the store's stages."""

    def __init__(self, base: Registry) -> None:
        self.base = base
        """The apps as loaded from their specs."""
        self.current = base
        """The apps served now: read it once per request, never twice."""
        self._generation: int | None = None
        self._cache = VersionCache()
        self._lock = threading.Lock()

    def refresh(self, store: ModelVersionStore, *, force: bool = False) -> bool:
        """Serve what the stages say, if they changed since the last refresh (``force``:
        read them anyway). An app whose new version cannot be loaded keeps what it served,
        logged. Returns whether anything was read."""
        with self._lock:
            generation = store.stage_generation()
            if generation == self._generation and not force:
                return False
            apps = dict(self.current.apps)
            for base in self.base:
                try:
                    apps[base.name] = served_app(base, store.model_versions(base.name), self._cache)
                except DoorstepError as exc:
                    logger.error(
                        "app %s keeps serving version %s: %s",
                        base.name,
                        apps[base.name].model_version,
                        exc.message,
                    )
            current = Registry(apps)
            self.current = current  # the one swap (see the module's docstring)
            self._cache.keep_only(current)
            self._generation = generation
            return True

    def poll(self, store: ModelVersionStore, stop: threading.Event, seconds: float) -> None:
        """Refresh every ``seconds`` until ``stop`` is set (a background loop)."""
        while not stop.wait(seconds):
            try:
                self.refresh(store)
            except DoorstepError as exc:  # the store is away: try again next time
                logger.warning("model stages not read: %s", exc.message)
