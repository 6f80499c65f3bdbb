"""``doorstep demo``: the churn example from nothing to explained decisions, and with
``--serve`` on to a served API, a next model version in shadow, a review queue, outcomes, the
monitoring report and the champion against the shadow (the steps after scoring:
:mod:`.demo_rollout`, :mod:`.demo_queue`, :mod:`.demo_outcomes`)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from doorstep.cli import render
from doorstep.cli.console import console

if TYPE_CHECKING:
    from doorstep.services.apps.loading import LoadedApp

__all__ = ["demo"]


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

    if not (directory / "doorstep.yaml").exists():
        with console.status("Generating customers and training the churn model…"):
            create_example(directory, "churn")
        console.print(f"Created the churn example app in [bold]{directory}/[/]")
    app = load_app(directory / "doorstep.yaml")
    out = directory / "decisions.parquet"
    with render.progress(console) as bar:
        summary = score_file(
            app, directory / "customers.parquet", out, on_total=bar.total, on_progress=bar.advance
        )
    render.score_summary(console, summary)
    render.explained_decisions(console, out, show)
    render.next_steps(console, directory)
    if serve_api:
        _serve(app, directory, port)


def _serve(app: LoadedApp, directory: Path, port: int) -> None:
    """The demo's last steps: how to call the API, a review queue and keys, outcomes and the
    report; then the app served, with the example's stand-in CRM receiving its webhooks."""
    from doorstep.cli.demo_outcomes import show_feedback
    from doorstep.cli.demo_queue import prepare_review_queue
    from doorstep.cli.demo_rollout import compare_next_model, shadow_next_model
    from doorstep.cli.serve import serve

    customers = directory / "customers.parquet"
    render.try_the_api(console, customers, app.spec, port)
    staged = shadow_next_model(console, app, directory)
    prepare_review_queue(console, staged, customers, port)
    show_feedback(console, app, directory)
    compare_next_model(console, app)
    with _crm_stand_in(directory):
        serve([directory / "doorstep.yaml"], port=port)


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
