"""``doorstep runs list|show|resume``: batch runs from feature sources, scheduled or by
``doorstep score --from``, and from files (``doorstep score FILE --record``)."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from doorstep.cli import runs_render
from doorstep.cli.console import console, errors
from doorstep.cli.errors import command_group
from doorstep.cli.options import DbOption, SpecOption, actor, open_db

__all__ = ["runs_app"]

runs_app = command_group(
    help="Batch runs from feature sources (scheduled, or by doorstep score --from) and files "
    "(doorstep score FILE --record)."
)


@runs_app.command("list")
def list_runs(
    app: Annotated[str | None, typer.Option(help="Only this app's runs.")] = None,
    schedule: Annotated[str | None, typer.Option(help="Only this schedule's runs.")] = None,
    state: Annotated[
        str | None,
        typer.Option(
            help="running, succeeded, failed, skipped, or stale (running, lease expired)."
        ),
    ] = None,
    limit: Annotated[int, typer.Option(min=1, max=1000)] = 20,
    db: DbOption = None,
) -> None:
    """Runs, newest first, with their counts."""
    from doorstep.services.runs.views import list_runs
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
    from doorstep.services.runs.views import get_run, run_view

    with open_db(db) as store:
        run = get_run(store, run_id)
    typer.echo(json.dumps(run_view(run), indent=2))


@runs_app.command("resume")
def resume_run(
    run_id: Annotated[str, typer.Argument(help="The run's id (doorstep runs list).")],
    spec: SpecOption,
    url: Annotated[
        str | None,
        typer.Option(help="For a run from --url/--query: the database URL again (never stored)."),
    ] = None,
    db: DbOption = None,
) -> None:
    """Go on with a failed run, or one whose runner died (its lease expired), after its
    checkpoint: the same run, its options, and one decision per entity with the ids it had."""
    from doorstep.services.apps.loading import load_app
    from doorstep.services.rollout.serving import staged_app
    from doorstep.services.runs.resume import resume_run

    app = load_app(spec)
    with open_db(db) as store, console.status(f"Resuming run {run_id}…"):
        run = resume_run(staged_app(app, store), store, run_id, actor=actor(), url=url)
    runs_render.run_done(console, errors, run)
