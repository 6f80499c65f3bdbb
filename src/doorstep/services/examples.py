"""Create example apps (``doorstep init --example``)."""

from __future__ import annotations

from pathlib import Path

from doorstep.core.suggest import did_you_mean
from doorstep.errors import ExampleError
from doorstep.examples import EXAMPLES

__all__ = ["create_example"]


def create_example(directory: Path, name: str, *, force: bool = False) -> list[Path]:
    """Write example ``name`` into ``directory``; refuse to overwrite files unless ``force``."""
    if name not in EXAMPLES:
        raise ExampleError(
            f"unknown example {name!r}{did_you_mean(name, list(EXAMPLES))}; "
            f"available: {', '.join(EXAMPLES)}"
        )
    if directory.exists() and any(directory.iterdir()) and not force:
        raise ExampleError(
            f"{directory} is not empty; choose a new folder or pass --force to overwrite"
        )
    from doorstep.examples.churn import write_example

    return write_example(directory)
