"""Model files kept content-addressed: ``<models>/<sha256 hex>/<name>``, so a version's file can
never be overwritten by a later one (a rollback finds the bytes it was approved with)."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from doorstep.errors import StoreError
from doorstep.models.hashing import content_hash

__all__ = ["MODELS_FOLDER", "keep_model_file"]

MODELS_FOLDER = "models"
"""Under the store's home folder, unless ``--models`` names another place."""


def keep_model_file(source: Path, models: Path, expected_hash: str) -> Path:
    """Copy ``source`` (a file or an MLflow folder) to ``models/<hex>/<name>`` unless it is
    there already, and return that path. The copy's hash must be ``expected_hash`` (the hash
    of what was checked): a file changed while it was copied is refused."""
    digest = expected_hash.removeprefix("sha256:")
    target = models / digest / source.name
    if target.exists():
        if content_hash(target) != expected_hash:
            raise StoreError(
                f"The kept model file {target} no longer has hash {digest[:12]}…; it was "
                "changed by hand. Remove that folder and register the version again."
            )
        return target
    models.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".incoming-", dir=models))
    try:
        copy = staging / source.name
        if source.is_dir():
            shutil.copytree(source, copy)
        else:
            shutil.copy2(source, copy)
        if content_hash(copy) != expected_hash:
            raise StoreError(
                f"{source} changed while it was registered (hash {digest[:12]}… when checked); "
                "register it again once it is written."
            )
        target.parent.mkdir(parents=True, exist_ok=True)
        copy.rename(target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target
