"""``doorstep decisions import``: decisions made earlier, recorded with the time they were made.
See docs/history.md."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from doorstep.cli import render, runs_render
from doorstep.cli.console import console, errors
from doorstep.cli.errors import command_group
from doorstep.cli.options import DbOption, InputFormatOption, SpecOption, open_db

__all__ = ["decisions_app"]

decisions_app = command_group(
    help="Decisions: import history made earlier or elsewhere.", no_args_is_help=True
)

SHOWN_ERRORS = 10
"""Rejected rows listed after an import (the run keeps its first 100: doorstep runs show)."""


@decisions_app.callback()
def _decisions() -> None:
    """Decisions: import history made earlier or elsewhere."""


@decisions_app.command("import")
def decisions_import(
    source: Annotated[Path, typer.Argument(help="Decisions: .csv, .parquet or .jsonl.")],
    spec: SpecOption,
    decided_at: Annotated[
        str,
        typer.Option(
            "--decided-at",
            help="The column holding each decision's time (ISO 8601; UTC if it has no zone).",
        ),
    ],
    key: Annotated[
        str | None,
        typer.Option(
            help="The column naming each decision (default: the contract's id field); "
            "importing a key again at the same time records nothing twice."
        ),
    ] = None,
    as_recorded: Annotated[
        bool,
        typer.Option(
            "--as-recorded",
            help="Take each decision's score (and action, with --action or an 'action' column) "
            "from the file as it was made, instead of deciding it again.",
        ),
    ] = False,
    score: Annotated[
        str | None,
        typer.Option(help="The column of recorded scores (implies --as-recorded; default: score)."),
    ] = None,
    action: Annotated[
        str | None,
        typer.Option(help="The column of recorded actions (implies --as-recorded)."),
    ] = None,
    input_format: InputFormatOption = None,
    rejects: Annotated[
        Path | None, typer.Option(help="A CSV file for the rejected rows, one per broken rule.")
    ] = None,
    explain: Annotated[
        bool | None,
        typer.Option(
            "--explain/--no-explain",
            help="Explain every decision, or none (default: as the spec's explain.for says).",
        ),
    ] = None,
    chunk_rows: Annotated[int, typer.Option(min=1, help="Rows per store transaction.")] = 10_000,
    db: DbOption = None,
) -> None:
    """Record the decisions of a file at the times they were made, each decided again by the
    app's model and policy from its inputs (or, --as-recorded, with the score and action it was
    given then), as a resumable run. Imported decisions are marked (lineage 'imported'), never
    deliver and never enter the review queue.

    Exits 0 when rows were recorded or were imported before, even if some were rejected, 5 when
    every row was rejected, 1 on errors."""
    from doorstep.cli.score import fail_if_all_rejected
    from doorstep.services.apps.loading import load_app
    from doorstep.services.runs.imports import ImportColumns, import_file, recorded_columns

    app = load_app(spec)
    render.warnings(errors, app.warnings)
    columns = ImportColumns(
        decided_at=decided_at,
        key=key or app.spec.inputs.id,
        recorded=recorded_columns(source, input_format, as_recorded, score, action),
    )
    with open_db(db) as store, render.progress(console) as bar:
        run = import_file(
            app,
            store,
            source,
            columns,
            input_format=input_format,
            explain=explain,
            chunk_rows=chunk_rows,
            rejects=rejects,
            on_total=bar.total,
            on_progress=bar.advance,
        )
    runs_render.import_done(console, errors, run, source.name, SHOWN_ERRORS)
    done = int(run.checkpoint or 0)
    fail_if_all_rejected(done, done - run.rejected, f"doorstep runs show {run.id}")
