"""The ``doorstep`` command line. Commands parse, call a service and render; nothing more."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer

from doorstep import __version__
from doorstep.cli import render
from doorstep.cli.console import console, errors, fit_to_terminal
from doorstep.cli.deliveries import deliveries_app, worker
from doorstep.cli.errors import command_group
from doorstep.cli.outcomes import export_app, monitor, outcomes_app
from doorstep.cli.report import report
from doorstep.cli.runs import runs_app, score_from_source
from doorstep.cli.serve import serve
from doorstep.cli.store import audit_app, db_app, keys_app

app = command_group(
    name="doorstep",
    help="Carry a trained model the last mile: explained decisions people and systems act on.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.add_typer(db_app, name="db")
app.add_typer(keys_app, name="keys")
app.add_typer(audit_app, name="audit")
app.add_typer(deliveries_app, name="deliveries")
app.add_typer(runs_app, name="runs")
app.add_typer(outcomes_app, name="outcomes")
app.add_typer(export_app, name="export")

SpecOption = Annotated[
    Path, typer.Option("--spec", "-s", help="The app's doorstep.yaml.", dir_okay=False)
]


@app.command()
def init(
    directory: Annotated[Path, typer.Argument(help="Folder to create the app in.")],
    example: Annotated[str, typer.Option(help="Example to start from.")] = "churn",
    force: Annotated[bool, typer.Option(help="Overwrite files in a non-empty folder.")] = False,
) -> None:
    """Write a complete, runnable example app: spec, trained model, reference and sample data."""
    from doorstep.services.apps.examples import create_example

    with console.status(f"Generating data and training the {example} model…"):
        files = create_example(directory, example, force=force)
    render.created(console, directory, files)


@app.command()
def validate(
    spec: Annotated[Path, typer.Argument(help="The app's doorstep.yaml.", dir_okay=False)],
) -> None:
    """Check a spec, its model, its reference data and its connectors' settings; exit 1 with
    every problem found."""
    from doorstep.services.apps.loading import load_app
    from doorstep.services.deliver.connectors import open_app_connectors

    loaded = load_app(spec)
    open_app_connectors(loaded).close()  # settings only: no connection is made
    render.app_summary(console, loaded)


@app.command()
def score(
    source: Annotated[
        Path | None, typer.Argument(help="Records to decide: .csv, .parquet or .jsonl.")
    ] = None,
    *,
    spec: SpecOption,
    out: Annotated[
        Path | None, typer.Option("--out", "-o", help="Decisions file to write.")
    ] = None,
    rejects: Annotated[
        Path | None, typer.Option(help="Rejects file (default: OUT's name + .rejects.csv).")
    ] = None,
    input_format: Annotated[
        str | None, typer.Option("--format", help="Input format if the suffix does not say.")
    ] = None,
    explain: Annotated[
        bool | None,
        typer.Option(
            "--explain/--no-explain",
            help="Explain every decision, or none (default: as the spec's explain.for says).",
        ),
    ] = None,
    chunk_rows: Annotated[int, typer.Option(min=1, help="Rows per chunk.")] = 65_536,
    from_source: Annotated[
        str | None,
        typer.Option(
            "--from", help="Decide every entity of this SQL feature source of the spec instead."
        ),
    ] = None,
    url: Annotated[
        str | None, typer.Option(help="With --query: a database URL to read entities from.")
    ] = None,
    query: Annotated[
        str | None, typer.Option(help="With --url: a SELECT of the id and the input fields.")
    ] = None,
    db: Annotated[
        str | None,
        typer.Option(help="Store for --from/--url runs (default: DOORSTEP_DATABASE_URL)."),
    ] = None,
    deliver: Annotated[
        bool,
        typer.Option(help="With --from/--url: enqueue the actions through the outbox."),
    ] = False,
) -> None:
    """Decide every record of a file (write decisions and rejected rows), or every entity of a
    database (--from SOURCE, or --url and --query: recorded in the store, as a run)."""
    from doorstep.services.apps.loading import load_app
    from doorstep.services.runs.files import score_file

    if from_source is not None or url is not None or query is not None:
        score_from_source(
            spec,
            from_source,
            url,
            query,
            db=db,
            deliver=deliver,
            explain=explain,
            chunk_rows=min(chunk_rows, 10_000),
        )
        return
    if source is None or out is None:
        errors.print("[bold red]error[/]: give a SOURCE file and --out, or --from SOURCE")
        raise typer.Exit(code=1)
    loaded = load_app(spec)
    render.warnings(errors, loaded.warnings)
    with render.progress(console) as bar:
        summary = score_file(
            loaded,
            source,
            out,
            rejects=rejects,
            input_format=input_format,
            chunk_rows=chunk_rows,
            explain=explain,
            on_total=bar.total,
            on_progress=bar.advance,
        )
    render.score_summary(console, summary)


@app.command()
def demo(
    directory: Annotated[Path, typer.Argument(help="Folder for the demo app.")] = Path(
        "churn-demo"
    ),
    show: Annotated[int, typer.Option(min=0, help="Explained decisions to show.")] = 3,
    serve_api: Annotated[
        bool,
        typer.Option("--serve/--no-serve", help="Then serve the app's API on 127.0.0.1."),
    ] = False,
    port: Annotated[int, typer.Option(help="Port for --serve.")] = 8000,
) -> None:
    """Create the churn example (if absent), score its customers and show explained decisions;
    with --serve, then serve the app's decision API."""
    from doorstep.services.apps.examples import create_example
    from doorstep.services.apps.loading import load_app
    from doorstep.services.runs.files import score_file

    spec = directory / "doorstep.yaml"
    if not spec.exists():
        with console.status("Generating customers and training the churn model…"):
            create_example(directory, "churn")
        console.print(f"Created the churn example app in [bold]{directory}/[/]")
    loaded = load_app(spec)
    out = directory / "decisions.parquet"
    with render.progress(console) as bar:
        summary = score_file(
            loaded,
            directory / "customers.parquet",
            out,
            on_total=bar.total,
            on_progress=bar.advance,
        )
    render.score_summary(console, summary)
    render.explained_decisions(console, out, show)
    render.next_steps(console, directory)
    if serve_api:
        render.try_the_api(console, directory / "customers.parquet", loaded.spec, port)
        from doorstep.cli.demo_queue import prepare_review_queue

        prepare_review_queue(console, loaded, directory / "customers.parquet", port)
        from doorstep.cli.demo_outcomes import show_feedback

        show_feedback(console, loaded, directory)
        with _crm_stand_in(directory):
            serve([spec], port=port)


@contextmanager
def _crm_stand_in(directory: Path) -> Iterator[None]:
    """The example's stand-in CRM on 127.0.0.1:9000, unless CRM_WEBHOOK_URL points elsewhere."""
    from doorstep.examples.churn.crm import DEMO_SECRET, CrmStandIn

    if os.environ.get("CRM_WEBHOOK_URL"):
        yield
        return
    inbox = directory / "crm-inbox.jsonl"
    try:
        stand_in = CrmStandIn(inbox, secret=os.environ.get("CRM_WEBHOOK_SECRET") or DEMO_SECRET)
    except OSError as exc:
        console.print(
            f"[yellow]The stand-in CRM could not listen on 127.0.0.1:9000 ({exc});[/] "
            "deliveries to 'crm' will be retried until something answers there."
        )
        yield
        return
    with stand_in:
        console.print(
            f"Actions for the CRM are delivered as signed webhooks to a stand-in at {stand_in.url}"
            f", which writes what it accepts to [bold]{inbox}[/]; 'call_customer' actions are "
            f"appended to [bold]{directory / 'callbacks.jsonl'}[/]."
        )
        yield


app.command()(serve)
app.command()(worker)
app.command()(monitor)
app.command()(report)


@app.command()
def schema() -> None:
    """Print the JSON Schema of doorstep.yaml (for editors: completion and checks)."""
    from doorstep.core.spec.models import Spec

    document = Spec.model_json_schema(by_alias=True)
    document["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    document["title"] = "doorstep app spec"
    typer.echo(json.dumps(document, indent=2))


@app.command()
def version() -> None:
    """Print doorstep's version."""
    typer.echo(__version__)


def main() -> None:
    """Console-script entry point."""
    fit_to_terminal()
    app()
