"""``doorstep validate``: an app checked as ``serve`` would load it, without serving it."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

from doorstep.core.spec.loader import check_spec
from doorstep.errors import SpecError, SpecIssue
from doorstep.services.apps.loading import LoadedApp, load_app
from doorstep.services.apps.source_checks import check_sources
from doorstep.services.deliver.connectors import SpecFile, guard_warnings, open_app_connectors

__all__ = ["check_app"]


def check_app(spec: Path) -> LoadedApp:
    """Load the app of ``spec`` (spec, model, reference data, policy), build its connectors
    from their settings, then close them (no connection is made), and probe its feature
    sources (:func:`check_sources`: they are connected to); every problem raises, all at once:
    when the app does not load, its payload templates, connector settings and sources are
    still checked and their problems reported with the others. Its ``warnings`` also name the
    connector targets the network guard would refuse and the sources that cannot be reached
    now."""
    try:
        app = load_app(spec)
    except SpecError as exc:
        said = [issue.key for issue in exc.issues]  # one problem per place (a URL's port)
        more = [i for i in _more_issues(spec) if not any(_overlap(i.key, k) for k in said)]
        raise SpecError([*exc.issues, *more]) from None
    try:
        open_app_connectors(app).close()
    except SpecError as exc:
        raise SpecError([*exc.issues, *check_sources(app.doc, app.root).issues]) from None
    sources = check_sources(app.doc, app.root)
    if sources.issues:
        raise SpecError(sources.issues)
    warnings = (*app.warnings, *guard_warnings(app.doc), *sources.warnings)
    return dataclasses.replace(app, warnings=warnings)


def _overlap(key: str, other: str) -> bool:
    """Whether two dotted keys name the same place, or one holds the other."""
    return key == other or key.startswith(f"{other}.") or other.startswith(f"{key}.")


def _more_issues(path: Path) -> list[SpecIssue]:
    """The problems of the templates, connector settings and feature sources of a spec that
    can be built."""
    if not path.is_file():
        return []
    text = path.read_text(encoding="utf-8")
    doc, _ = check_spec(text, file=str(path), env=os.environ, policy=False)
    if doc is None:
        return []
    root = path.resolve().parent
    sources = check_sources(doc, root).issues
    try:
        open_app_connectors(SpecFile(doc, root)).close()
    except SpecError as exc:
        return [*exc.issues, *sources]
    return sources
