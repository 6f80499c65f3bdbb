"""What every adapter does when it opens an artifact: check the path, sniff its first bytes,
import its library on demand (naming the extra that installs it) and word load errors alike.

:class:`ArtifactModel` holds the one sequence of those steps (the template of ``load``); each
adapter fills in what is its own: how it recognises, opens and wraps an artifact.
"""

from __future__ import annotations

import importlib
import os
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any, ClassVar

import polars as pl

from doorstep.core.ports import Model, ModelMetadata, Task
from doorstep.errors import ModelError
from doorstep.models.hashing import content_hash

__all__ = [
    "EXTRAS",
    "Artifact",
    "ArtifactModel",
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


@dataclass(frozen=True)
class Artifact:
    """A model file or folder that passed the shared load steps, with the options of ``load``."""

    path: Path
    digest: str
    """The artifact's :func:`~doorstep.models.hashing.content_hash`."""
    task: Task
    positive_class: str | None
    reference: pl.DataFrame | None

    @property
    def source(self) -> str:
        """The path as text, as metadata and error messages name the model."""
        return str(self.path)


class ArtifactModel:
    """Base of the built-in adapters: :meth:`load` runs the steps every adapter shares, in one
    order, and calls the adapter's hooks for its own steps:

    1. the path exists and is a file (or, with ``_folder``, a folder);
    2. :meth:`can_load` recognises it, else :meth:`_unrecognised` says why (adapters that load
       whatever they are pointed at when the kind is explicit return ``None`` there);
    3. the library ``_library`` is imported on demand, naming the extra that installs it;
    4. :meth:`_open` reads the artifact with it; any failure but a :class:`ModelError` becomes one
       worded by :meth:`_open_error`;
    5. the artifact's content hash is taken, and :meth:`_build` wraps what was read in a model.
    """

    metadata: ModelMetadata
    _label: ClassVar[str]
    """How messages name the artifact's format: ``a LightGBM model is a single file``."""
    _library: ClassVar[str]
    """The Python package that reads the artifact, imported when a model is loaded."""
    _folder: ClassVar[bool] = False
    """Whether the artifact is a folder rather than a single file."""

    @classmethod
    def can_load(cls, path: Path) -> bool:
        """Whether this adapter recognises the file or folder (cheap: reads a few bytes)."""
        raise NotImplementedError

    @classmethod
    def load(
        cls,
        path: Path,
        *,
        task: Task,
        positive_class: str | None = None,
        reference: pl.DataFrame | None = None,
    ) -> Model:
        """Load the artifact at ``path``: the shared steps, then the adapter's own."""
        require_file(path, cls._label, folder=cls._folder)
        if not cls.can_load(path):
            problem = cls._unrecognised(path)
            if problem is not None:
                raise ModelError(problem)
        library = import_library(cls._library)
        try:
            opened = cls._open(path, library)
        except ModelError:
            raise
        except Exception as exc:
            raise ModelError(cls._open_error(path, exc)) from exc
        artifact = Artifact(path, content_hash(path), task, positive_class, reference)
        return cls._build(opened, artifact)

    @classmethod
    def _unrecognised(cls, path: Path) -> str | None:
        """Why ``path`` is refused when :meth:`can_load` does not recognise it; ``None`` to try
        loading it all the same."""
        return None

    @classmethod
    def _open(cls, path: Path, library: ModuleType) -> Any:
        """Read the artifact with ``library``; may raise anything (see :meth:`_open_error`)."""
        raise NotImplementedError

    @classmethod
    def _open_error(cls, path: Path, exc: Exception) -> str:
        """The message of the :class:`ModelError` raised when :meth:`_open` fails."""
        return f"{cls._label} could not read {path}: {exc}"

    @classmethod
    def _build(cls, opened: Any, artifact: Artifact) -> Model:
        """The model for what :meth:`_open` read (possibly another adapter's)."""
        raise NotImplementedError
