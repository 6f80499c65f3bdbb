"""``doorstep runs list|show`` and ``doorstep score --from``: batch runs from feature sources."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from doorstep.cli.console import console, errors
from doorstep.cli.errors import command_group

__all__ = ["runs_app", "score_from_source"]

runs_app = command_group(help="Batch runs from feature sources: scheduled, or by doorstep score.")

DbOption = Annotated[
    str | None,
    typer.Option(help="Database URL (default: DOORSTEP_DATABASE_URL, else .doorstep/)."),
]


@runs_app.command("list")
def list_runs(
    app: Annotated[str | None, typer.Option(help="Only this app's runs.")] = None,
    schedule: Annotated[str | None, typer.Option(help="Only this schedule's runs.")] = None,
    state: Annotated[str | None, typer.Option(help="running, succeeded or failed.")] = None,
    limit: Annotated[int, typer.Option(min=1, max=1000)] = 20,
    db: DbOption = None,
) -> None:
    """Runs, newest first, with their counts."""
    from doorstep.store import open_store
    from doorstep.store.runs import RunQuery

    with open_store(db) as store:
        page = store.list_runs(RunQuery(app, schedule, state, None, limit))
    table = Table("run", "app", "schedule", "slot", "state", "rows", "decided", "rejected")
    for run in page.items:
        table.add_row(
            run.id,
            run.app,
            run.schedule or "(by hand)",
            run.slot.isoformat(timespec="minutes") if run.slot else "",
            run.state,
            str(run.rows),
            str(run.decided),
            str(run.rejected),
        )
    console.print(table)


@runs_app.command("show")
def show_run(
    run_id: Annotated[str, typer.Argument(help="The run's id.")],
    db: DbOption = None,
) -> None:
    """One run as JSON: state, checkpoint, counts, attempts and its first rejected records."""
    from doorstep.services.runs.sources import get_run, run_view
    from doorstep.store import open_store

    with open_store(db) as store:
        run = get_run(store, run_id)
    typer.echo(json.dumps(run_view(run), indent=2))


def score_from_source(
    spec: Path,
    source: str | None,
    url: str | None,
    query: str | None,
    *,
    db: str | None,
    deliver: bool,
    explain: bool | None,
    chunk_rows: int,
) -> None:
    """Decide every entity of a SQL source (a named one of the spec, or ``url`` + ``query``),
    recording the decisions in the store, as a run."""
    from doorstep.services.apps.loading import load_app
    from doorstep.services.runs.sources import RunOptions, execute_run, run_view
    from doorstep.sources.adhoc import open_scan
    from doorstep.store import open_store

    app = load_app(spec)
    scan = open_scan(app, source, url, query)
    try:
        with open_store(db) as store:
            lease = store.start_run(app.name, scan.name, runner="doorstep score", lease_seconds=600)
            assert lease is not None  # runs by hand have no slot to collide on
            options = RunOptions(
                chunk_rows=chunk_rows,
                deliver=deliver,
                explain=explain,
                lease_seconds=600,
                actor="doorstep score",
            )
            with console.status(f"Deciding every entity of {scan.name}…"):
                run = execute_run(app, scan, store, lease, options)
    finally:
        scan.close()
    view = run_view(run)
    console.print(
        f"Run [bold]{run.id}[/] {run.state}: {run.rows} rows, {run.decided} decided, "
        f"{run.rejected} rejected, {run.deliveries} deliveries enqueued "
        f"(doorstep runs show {run.id})"
    )
    if view["errors"]:
        for error in view["errors"][:5]:
            errors.print(f"  {error['entity_id']}: {error['message']}", highlight=False)
