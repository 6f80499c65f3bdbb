"""``doorstep runs list|show``: batch runs from feature sources, scheduled or by
``doorstep score --from``."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from doorstep.cli import runs_render
from doorstep.cli.console import console
from doorstep.cli.errors import command_group
from doorstep.cli.options import DbOption, open_db

__all__ = ["runs_app"]

runs_app = command_group(help="Batch runs from feature sources: scheduled, or by doorstep score.")


@runs_app.command("list")
def list_runs(
    app: Annotated[str | None, typer.Option(help="Only this app's runs.")] = None,
    schedule: Annotated[str | None, typer.Option(help="Only this schedule's runs.")] = None,
    state: Annotated[str | None, typer.Option(help="running, succeeded or failed.")] = None,
    limit: Annotated[int, typer.Option(min=1, max=1000)] = 20,
    db: DbOption = None,
) -> None:
    """Runs, newest first, with their counts."""
    from doorstep.services.runs.sources import list_runs
    from doorstep.store.runs import RunQuery

    with open_db(db) as store:
        page = list_runs(store, RunQuery(app, schedule, state, None, limit))
    runs_render.runs(console, page.items)


@runs_app.command("show")
def show_run(
    run_id: Annotated[str, typer.Argument(help="The run's id.")],
    db: DbOption = None,
) -> None:
    """One run as JSON: state, checkpoint, counts, attempts and its first rejected records."""
    from doorstep.services.runs.sources import get_run, run_view

    with open_db(db) as store:
        run = get_run(store, run_id)
    typer.echo(json.dumps(run_view(run), indent=2))
