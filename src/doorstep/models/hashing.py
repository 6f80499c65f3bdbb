"""Content hashes of model artifacts: ``sha256:<hex>`` of a file, or of a folder's files."""

from __future__ import annotations

import hashlib
from pathlib import Path

__all__ = ["content_hash"]

_CHUNK = 1 << 20


def content_hash(path: Path) -> str:
    """``sha256:<hex>`` of a file's bytes, or for a folder of every file's relative path and bytes
    taken in sorted path order (so the hash does not depend on the file system's listing order)."""
    digest = hashlib.sha256()
    if path.is_dir():
        files = sorted(p for p in path.rglob("*") if p.is_file())
        for file in files:
            digest.update(file.relative_to(path).as_posix().encode("utf-8") + b"\0")
            _update(digest, file)
            digest.update(b"\0")
    else:
        _update(digest, path)
    return f"sha256:{digest.hexdigest()}"


def _update(digest: hashlib._Hash, file: Path) -> None:
    with file.open("rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
