"""``doorstep serve``: the decision API on uvicorn, for one or more apps
(:mod:`doorstep.web.server`)."""

from __future__ import annotations

from typing import Annotated

import typer

from doorstep.cli import render
from doorstep.cli.console import console
from doorstep.cli.options import DbOption, DbPoolSizeOption, PublicUrlOption, SpecsArgument

__all__ = ["serve", "serve_pool_size"]


def serve_pool_size(workers: int) -> int:
    """``--db-pool-size`` when none is given: about ten connections for the whole command,
    shared out among its worker processes, at least three each (a micro-batch committing, one
    deciding, a read)."""
    return max(3, 10 // workers)


def serve(
    specs: SpecsArgument,
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    db: DbOption = None,
    workers: Annotated[int, typer.Option(min=1, help="Worker processes.")] = 1,
    db_pool_size: DbPoolSizeOption = None,
    batch_wait_ms: Annotated[
        float, typer.Option(min=0, help="Longest wait to coalesce concurrent requests.")
    ] = 2.0,
    max_batch: Annotated[
        int, typer.Option(min=1, help="Most requests coalesced into one model call.")
    ] = 256,
    deliver: Annotated[
        bool,
        typer.Option(
            help="Send the actions' deliveries from this server (--no-deliver: leave them to "
            "'doorstep worker' processes)."
        ),
    ] = True,
    schedules: Annotated[
        bool,
        typer.Option(
            help="Start the specs' scheduled runs and alert monitors from this server "
            "(--no-schedules: leave them to another server; a store lease lets one run them "
            "at a time)."
        ),
    ] = True,
    consume: Annotated[
        bool,
        typer.Option(
            help="Consume the specs' streams from this server, like 'doorstep consume' (a store "
            "lease per stream: each stream has one consumer among the servers sharing the "
            "store, and the streams spread over them)."
        ),
    ] = False,
    monitor_nice: Annotated[
        int,
        typer.Option(
            min=0,
            max=19,
            help="How much lower the CPU priority of the scheduled monitor's child process is "
            "than the server's.",
        ),
    ] = 10,
    monitor_idle: Annotated[
        bool,
        typer.Option(
            help="Also run the scheduled monitor's child process in the idle scheduling class "
            "where the system has one (Linux SCHED_IDLE: it uses only CPU time nothing else "
            "wants, and a request that arrives takes the core at once; on a busy machine it "
            "can stall while holding the store's write lock).",
        ),
    ] = False,
    public_url: PublicUrlOption = None,
    access_log: Annotated[bool, typer.Option(help="Log every request.")] = False,
    stage_poll: Annotated[
        float,
        typer.Option(
            min=0,
            help="Seconds between reads of the store's model stages: versions promoted, rolled "
            "back, in canary or shadow elsewhere are served within this plus their load time "
            "(0: never).",
        ),
    ] = 1.0,
) -> None:
    """Serve the decision API (and its docs at /docs) for one or more apps.

    --db-pool-size defaults to 10 connections shared out among the --workers, at least 3 each."""
    from doorstep.web.server import local_url, open_server, run_server
    from doorstep.web.settings import ServeSettings

    base = local_url(host, port)
    settings = ServeSettings(
        max_wait_ms=batch_wait_ms,
        max_batch=max_batch,
        deliver=deliver,
        schedules=schedules,
        consume=consume,
        monitor_nice=monitor_nice,
        monitor_idle=monitor_idle,
        public_url=public_url or base,
        stage_poll_seconds=stage_poll,
        db_pool_size=db_pool_size or serve_pool_size(workers),
    )
    server = open_server(specs, db, settings)
    render.serving(console, server, base)
    run_server(server, host=host, port=port, workers=workers, access_log=access_log)
