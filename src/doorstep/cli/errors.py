"""One handler for :class:`~doorstep.errors.DoorstepError` in every command.

Every command group of the command line is a :class:`DoorstepGroup` (made by
:func:`command_group`). Click runs a command from inside its group's ``invoke``, so a
``DoorstepError`` raised anywhere in a command (or in a group's callback) passes through there:
the group prints it to standard error as ``error (code): message`` and exits with status 1.
Command bodies never catch it themselves. Other exit codes (``monitor --alert``'s 3 and 4, a
broken audit chain's 1) are the command's own ``typer.Exit``, which passes through untouched.
"""

from __future__ import annotations

from typing import Any

import typer
from rich.markup import escape
from typer.core import TyperGroup

from doorstep.cli.console import errors
from doorstep.errors import DoorstepError

__all__ = ["EXIT_ERROR", "DoorstepGroup", "command_group", "print_error"]

EXIT_ERROR = 1
"""The exit status of a command that failed with a :class:`DoorstepError`."""


def print_error(exc: DoorstepError) -> None:
    """``error (code): message`` on standard error; the message as written (brackets in it are
    text, not console markup)."""
    errors.print(
        f"[bold red]error[/] [dim]({exc.code})[/]: {escape(exc.message)}",
        highlight=False,
        soft_wrap=True,
    )


class DoorstepGroup(TyperGroup):
    """A command group whose commands report a :class:`DoorstepError` with
    :func:`print_error` and exit with :data:`EXIT_ERROR`."""

    def invoke(self, ctx: Any) -> Any:  # a click Context (Typer's vendored click)
        try:
            return super().invoke(ctx)
        except DoorstepError as exc:
            print_error(exc)
            raise typer.Exit(code=EXIT_ERROR) from None


def command_group(**settings: Any) -> typer.Typer:
    """A :class:`typer.Typer` whose commands run inside a :class:`DoorstepGroup`; ``settings``
    as for ``typer.Typer`` (``help``, ``no_args_is_help``, …)."""
    return typer.Typer(cls=DoorstepGroup, **settings)
