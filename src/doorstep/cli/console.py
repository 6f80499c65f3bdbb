"""The command line's two consoles, declared once: ``console`` for what a command produces
(standard output) and ``errors`` for errors, warnings and notes (standard error).

Both resolve ``sys.stdout`` and ``sys.stderr`` when they print, so tests that capture them
(``typer.testing.CliRunner``) see everything a command prints.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager

from rich.console import Console

__all__ = ["PIPE_WIDTH", "console", "errors", "fit_to_terminal", "wide_when_piped"]

console = Console()
errors = Console(stderr=True)

PIPE_WIDTH = 120
"""Width of what commands write to a pipe or a file."""


def fit_to_terminal() -> None:
    """Size the output: the terminal's width (at least 80 columns), or :data:`PIPE_WIDTH`
    when standard output is a pipe or a file. Called once, by the entry point."""
    width = shutil.get_terminal_size((100, 20)).columns
    console.width = max(width, 80) if console.is_terminal else PIPE_WIDTH


@contextmanager
def wide_when_piped(width: int) -> Iterator[None]:
    """Print ``width`` columns wide while the block runs when standard output is not a terminal
    and ``COLUMNS`` does not say otherwise (tables whose ids must stay whole to be copied)."""
    if console.is_terminal or "COLUMNS" in os.environ:
        yield
        return
    # Rich keeps a width set by hand in ``_width`` (``None``: sized from the terminal and
    # ``COLUMNS`` at each print); put back exactly that, so a width chosen here never outlives
    # the block (restoring ``console.width`` would pin the width measured now for good)
    before: int | None = console._width
    console.width = width
    try:
        yield
    finally:
        console._width = before
