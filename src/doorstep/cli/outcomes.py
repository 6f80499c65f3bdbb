"""``doorstep outcomes import``: what really happened after decisions, from a file.
See docs/monitoring.md."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from doorstep.cli import render
from doorstep.cli.console import console, errors
from doorstep.cli.errors import command_group
from doorstep.cli.options import DbOption, InputFormatOption, SpecOption, actor, open_db

__all__ = ["outcomes_app"]

outcomes_app = command_group(
    help="Outcomes: what really happened after decisions.", no_args_is_help=True
)


@outcomes_app.callback()
def _outcomes() -> None:
    """Outcomes: what really happened after decisions."""


@outcomes_app.command("import")
def outcomes_import(
    source: Annotated[Path, typer.Argument(help="Outcomes: .csv, .parquet or .jsonl.")],
    spec: SpecOption,
    input_format: InputFormatOption = None,
    rejects: Annotated[
        Path | None,
        typer.Option(help="Refused rows (default: SOURCE's name + .rejects.csv, if any)."),
    ] = None,
    chunk_rows: Annotated[int, typer.Option(min=1, help="Rows per store transaction.")] = 5_000,
    db: DbOption = None,
) -> None:
    """Record what really happened, keyed by decision id or entity id; importing again records
    nothing twice. Outcomes that match no decision are kept and counted by reason."""
    from doorstep.services.apps.loading import read_spec
    from doorstep.services.outcomes.ingest import import_outcomes

    doc = read_spec(spec)
    with open_db(db) as store:
        summary = import_outcomes(
            doc.spec,
            store,
            source,
            actor=actor(),
            input_format=input_format,
            rejects=rejects,
            chunk_rows=chunk_rows,
        )
    render.outcomes_imported(console, errors, summary, source)
