"""The home folder: where doorstep keeps its own files unless told otherwise.

Relative to the working directory: the embedded SQLite store (``doorstep.db``), the reference
profiles of monitoring (``profiles/``) and the pages' session secret (``session-secret``). A
store in another SQLite file keeps its profiles in ``profiles/`` beside that file
(:func:`doorstep.store.engine.store_home`).
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["DEFAULT_HOME"]

DEFAULT_HOME = Path(".doorstep")
"""The home folder when none is given (``serve``'s ``home`` setting, ``open_store(home=...)``)."""
