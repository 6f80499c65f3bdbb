"""``doorstep consume``: decide the events of the specs' streams as they arrive; ``doorstep
streams list``: what the consumers reported (lag, rate, decisions, rejects, dead letters,
errors). See docs/streams.md."""

from __future__ import annotations

from typing import Annotated

import typer

from doorstep.cli import streams_render
from doorstep.cli.console import console, errors
from doorstep.cli.errors import command_group
from doorstep.cli.options import DbOption, SpecsArgument, open_db

__all__ = ["consume", "streams_app"]

streams_app = command_group(help="Streams of events decided as they arrive (doorstep consume).")


def consume(
    specs: SpecsArgument,
    db: DbOption = None,
    stream: Annotated[
        list[str] | None,
        typer.Option(help="Only this stream (repeat for more). Default: every stream."),
    ] = None,
    log_level: Annotated[str, typer.Option(help="DEBUG, INFO, WARNING or ERROR.")] = "INFO",
) -> None:
    """Decide the events of the specs' streams as they arrive, until Ctrl-C or SIGTERM."""
    from doorstep.runtime.consumers import open_consumers, run_until_signal
    from doorstep.runtime.worker import log_to_stderr

    log_to_stderr(log_level)
    with open_consumers(specs, db, streams=stream) as consumers:
        streams_render.consuming(errors, consumers.names, consumers.store.url)
        run_until_signal(consumers, lambda name: streams_render.stopping(errors, name))


@streams_app.command("list")
def list_streams(db: DbOption = None) -> None:
    """Each stream's lag, rate, decisions, rejects, dead letters and errors, as its consumers
    last reported them."""
    from doorstep.services.decide.streams import list_streams

    with open_db(db) as store:
        found = list_streams(store)
    streams_render.streams(console, found)
