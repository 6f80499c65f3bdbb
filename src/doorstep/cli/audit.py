"""``doorstep audit``: the tamper-evident audit trail from the command line."""

from __future__ import annotations

import typer

from doorstep.cli.console import console, errors
from doorstep.cli.errors import command_group
from doorstep.cli.options import DbOption, open_db

__all__ = ["audit_app"]

audit_app = command_group(help="The tamper-evident audit trail.", no_args_is_help=True)


@audit_app.callback()
def _audit() -> None:
    """The tamper-evident audit trail."""


@audit_app.command("verify")
def audit_verify(db: DbOption = None) -> None:
    """Walk the audit chain and the rows it vouches for; exit 1 naming the first bad event."""
    from doorstep.services.governance.audit import describe_report, verify_audit

    with open_db(db) as store:
        report = verify_audit(store)
    if report.ok:
        console.print(describe_report(report), highlight=False)
        return
    errors.print(f"[bold red]audit verify failed[/]: {describe_report(report)}", highlight=False)
    raise typer.Exit(code=1)
