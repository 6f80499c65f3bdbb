"""The spec of one app among spec files or folders, found by the app's name (read, not loaded:
no model is opened until a command needs one)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from doorstep.core.spec.loader import SpecDocument
from doorstep.core.suggest import did_you_mean
from doorstep.errors import NotFoundError
from doorstep.services.apps.loading import read_spec
from doorstep.services.apps.registry import discover_specs

__all__ = ["find_spec"]


def find_spec(paths: Sequence[Path], app: str) -> tuple[Path, SpecDocument]:
    """The spec file of ``paths`` (see :func:`discover_specs`) whose app is ``app``."""
    names: list[str] = []
    for path in discover_specs(paths):
        doc = read_spec(path)
        if doc.spec.app.name == app:
            return path, doc
        names.append(doc.spec.app.name)
    where = ", ".join(str(p) for p in paths)
    raise NotFoundError(
        f"No spec of app {app!r}{did_you_mean(app, names)} in {where} (apps there: "
        f"{', '.join(names) or 'none'}); name its doorstep.yaml with --spec."
    )
