"""``doorstep validate``: an app checked as ``serve`` would load it, without serving it."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

from doorstep.core.spec.loader import check_spec
from doorstep.errors import SpecError, SpecIssue
from doorstep.services.apps.loading import LoadedApp, load_app
from doorstep.services.deliver.connectors import SpecFile, guard_warnings, open_app_connectors

__all__ = ["check_app"]


def check_app(spec: Path) -> LoadedApp:
    """Load the app of ``spec`` (spec, model, reference data, policy) and build its connectors
    from their settings, then close them (no connection is made); every problem raises, all at
    once: when the app does not load, its payload templates and connector settings are still
    checked and their problems reported with the others. Its ``warnings`` also name the
    connector targets the network guard would refuse."""
    try:
        app = load_app(spec)
    except SpecError as exc:
        said = [issue.key for issue in exc.issues]  # one problem per place (a URL's port)
        more = [i for i in _delivery_issues(spec) if not any(_overlap(i.key, k) for k in said)]
        raise SpecError([*exc.issues, *more]) from None
    open_app_connectors(app).close()
    return dataclasses.replace(app, warnings=(*app.warnings, *guard_warnings(app.doc)))


def _overlap(key: str, other: str) -> bool:
    """Whether two dotted keys name the same place, or one holds the other."""
    return key == other or key.startswith(f"{other}.") or other.startswith(f"{key}.")


def _delivery_issues(path: Path) -> list[SpecIssue]:
    """The problems of the templates and connector settings of a spec that can be built."""
    if not path.is_file():
        return []
    text = path.read_text(encoding="utf-8")
    doc, _ = check_spec(text, file=str(path), env=os.environ, policy=False)
    if doc is None:
        return []
    try:
        open_app_connectors(SpecFile(doc, path.resolve().parent)).close()
    except SpecError as exc:
        return exc.issues
    return []
