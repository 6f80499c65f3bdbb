"""What every adapter does when it opens an artifact: check the path, sniff its first bytes,
import its library on demand (naming the extra that installs it) and word load errors alike."""

from __future__ import annotations

import importlib
import os
from pathlib import Path
from types import ModuleType

from doorstep.errors import ModelError

__all__ = [
    "EXTRAS",
    "first_line",
    "head",
    "import_library",
    "require_file",
    "thread_count",
]

EXTRAS: dict[str, str] = {
    "xgboost": "xgboost",
    "onnxruntime": "onnx",
    "mlflow": "mlflow",
    "skops": "mlflow",
}
"""Optional libraries and the doorstep extra that installs each."""


def require_file(path: Path, kind: str, *, folder: bool = False) -> None:
    """Raise :class:`ModelError` when ``path`` does not exist or is of the wrong sort."""
    if not path.exists():
        raise ModelError(
            f"The model path {path} does not exist. Check 'model.path' in the spec; relative "
            "paths are resolved against the spec file's folder."
        )
    if folder and not path.is_dir():
        raise ModelError(f"{path} is not a folder; a {kind} model is a folder.")
    if not folder and not path.is_file():
        raise ModelError(f"{path} is a folder; a {kind} model is a single file.")


def head(path: Path, size: int = 64) -> bytes:
    """The first ``size`` bytes of a file, or ``b""`` when it cannot be read (so that adapters'
    ``can_load`` never raise)."""
    try:
        with path.open("rb") as handle:
            return handle.read(size)
    except OSError:
        return b""


def first_line(path: Path) -> str:
    """The first line of a file as text (at most 80 characters), for error messages."""
    line = head(path, 256).split(b"\n", 1)[0][:80]
    return line.decode("utf-8", errors="replace")


def import_library(name: str) -> ModuleType:
    """Import ``name``; when missing, raise :class:`ModelError` naming the extra to install."""
    try:
        return importlib.import_module(name)
    except ImportError as exc:
        extra = EXTRAS.get(name.split(".")[0])
        fix = f"pip install 'doorstep[{extra}]'" if extra is not None else f"pip install {name}"
        raise ModelError(
            f"This model needs the Python package {name!r}, which is not installed "
            f"({exc}). Install it with: {fix}"
        ) from exc


def thread_count() -> int:
    """Threads a library may use for one predict call: every core the process may run on."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not on Linux
        return max(1, os.cpu_count() or 1)
