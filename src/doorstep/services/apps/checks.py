"""``doorstep validate``: an app checked as ``serve`` would load it, without serving it."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from doorstep.services.apps.loading import LoadedApp, load_app
from doorstep.services.deliver.connectors import guard_warnings, open_app_connectors

__all__ = ["check_app"]


def check_app(spec: Path) -> LoadedApp:
    """Load the app of ``spec`` (spec, model, reference data, policy) and build its connectors
    from their settings, then close them (no connection is made); every problem raises. Its
    ``warnings`` also name the connector targets the network guard would refuse."""
    app = load_app(spec)
    open_app_connectors(app).close()
    return dataclasses.replace(app, warnings=(*app.warnings, *guard_warnings(app.doc)))
