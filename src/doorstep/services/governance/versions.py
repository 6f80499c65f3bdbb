"""Model versions: what each app has registered (version, content hash, owner, when)."""

from __future__ import annotations

from typing import Any

from doorstep.store.protocols import ModelVersionStore

__all__ = ["model_versions"]


def model_versions(store: ModelVersionStore, app: str | None = None) -> list[dict[str, Any]]:
    """The registered versions of ``app`` (every app's when ``None``), oldest first per app."""
    return store.model_versions(app)
