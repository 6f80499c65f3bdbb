"""``doorstep audit``: the tamper-evident audit trail from the command line."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.markup import escape

from doorstep.cli.console import console, errors
from doorstep.cli.errors import command_group
from doorstep.cli.options import DbOption, open_db

__all__ = ["audit_app"]

audit_app = command_group(help="The tamper-evident audit trail.", no_args_is_help=True)


@audit_app.callback()
def _audit() -> None:
    """The tamper-evident audit trail."""


@audit_app.command("verify")
def audit_verify(
    db: DbOption = None,
    expect: Annotated[
        str | None,
        typer.Option(
            metavar="SEQ:HASH",
            help="A head printed by an earlier verify (or exported): fail unless it is still "
            "on the chain (found: events deleted from the end, or history rewritten).",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Walk the audit chain and the rows it vouches for; exit 1 naming the first bad event."""
    from doorstep.services.governance.audit import Anchor, describe_report, verify_audit

    anchor = None if expect is None else Anchor.parse(expect)
    with open_db(db) as store:
        report = verify_audit(store, anchor)
    if report.ok:
        console.print(describe_report(report), highlight=False, soft_wrap=True)
        return
    errors.print(
        f"[bold red]audit verify failed[/]: {escape(describe_report(report))}",
        highlight=False,
        soft_wrap=True,
    )
    raise typer.Exit(code=1)
