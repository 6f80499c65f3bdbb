"""The ``doorstep`` command line, assembled: every command and command group in one Typer app.

Each command parses its arguments, calls one service and renders what it got back (the
commands live in the modules of this package, the rendering in ``render`` modules). A
:class:`~doorstep.errors.DoorstepError` is reported by one handler (:mod:`.errors`).
"""

from __future__ import annotations

import typer

from doorstep import __version__
from doorstep.cli.apps import init, schema, validate
from doorstep.cli.audit import audit_app
from doorstep.cli.card import card
from doorstep.cli.console import fit_to_terminal
from doorstep.cli.db import db_app
from doorstep.cli.decisions import decisions_app
from doorstep.cli.deliveries import deliveries_app
from doorstep.cli.demo import demo
from doorstep.cli.errors import command_group
from doorstep.cli.export import export_app
from doorstep.cli.fairness import fairness
from doorstep.cli.keys import keys_app
from doorstep.cli.model_reports import backtest as _model_reports  # noqa: F401  (registers)
from doorstep.cli.models import models_app
from doorstep.cli.monitor import monitor
from doorstep.cli.outcomes import outcomes_app
from doorstep.cli.report import report
from doorstep.cli.runs import runs_app
from doorstep.cli.score import score
from doorstep.cli.serve import serve
from doorstep.cli.streams import consume, streams_app
from doorstep.cli.worker import worker

__all__ = ["app", "main"]

app = command_group(
    name="doorstep",
    help="Carry a trained model the last mile: explained decisions people and systems act on.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
commands = (
    init,
    validate,
    score,
    demo,
    serve,
    worker,
    consume,
    monitor,
    report,
    fairness,
    card,
    schema,
)
for command in commands:
    app.command()(command)
app.add_typer(db_app, name="db")
app.add_typer(keys_app, name="keys")
app.add_typer(models_app, name="models")
app.add_typer(audit_app, name="audit")
app.add_typer(deliveries_app, name="deliveries")
app.add_typer(runs_app, name="runs")
app.add_typer(decisions_app, name="decisions")
app.add_typer(outcomes_app, name="outcomes")
app.add_typer(export_app, name="export")
app.add_typer(streams_app, name="streams")
app.add_typer(models_app, name="models")


@app.command()
def version() -> None:
    """Print doorstep's version."""
    typer.echo(__version__)


def main() -> None:
    """Console-script entry point."""
    fit_to_terminal()
    app()
