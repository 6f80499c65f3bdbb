"""``doorstep export training-data``: what doorstep recorded, as the next training set.
See docs/monitoring.md."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from doorstep.cli import render
from doorstep.cli.console import console
from doorstep.cli.errors import command_group
from doorstep.cli.options import (
    DbOption,
    SinceOption,
    SpecOption,
    UntilOption,
    open_db,
    parse_time,
)

__all__ = ["export_app"]

export_app = command_group(help="Export what doorstep recorded.", no_args_is_help=True)


@export_app.callback()
def _export() -> None:
    """Export what doorstep recorded."""


@export_app.command("training-data")
def export_training_data(
    spec: SpecOption,
    out: Annotated[
        Path, typer.Option("--out", "-o", help="File to write: .parquet, .csv, .jsonl.")
    ],
    since: SinceOption = None,
    until: UntilOption = None,
    labelled_only: Annotated[
        bool, typer.Option("--labelled-only", help="Only decisions whose outcome is known.")
    ] = False,
    include_pii: Annotated[
        bool,
        typer.Option(
            "--include-pii",
            help="Also write inputs marked pii: true, and sensitive: true ones the model does "
            "not take.",
        ),
    ] = False,
    output_format: Annotated[
        str | None, typer.Option("--format", help="Output format if the suffix does not say.")
    ] = None,
    db: DbOption = None,
) -> None:
    """Write decisions with their inputs, scores, actions, reviews and outcomes, oldest first,
    for the next training run (streamed: memory stays flat)."""
    from doorstep.services.apps.loading import read_spec
    from doorstep.services.outcomes.training import export_training_data as export

    doc = read_spec(spec)
    with open_db(db) as store:
        summary = export(
            doc.spec,
            store,
            out,
            since=parse_time(since, "since"),
            until=parse_time(until, "until"),
            labelled_only=labelled_only,
            include_pii=include_pii,
            output_format=output_format,
        )
    render.training_data_written(console, summary)
