"""``doorstep worker``: send the outbox's deliveries through the apps' connectors, in a process
of its own (:mod:`doorstep.runtime.worker`). See docs/deliveries.md."""

from __future__ import annotations

from typing import Annotated

import typer

from doorstep.cli import deliveries_render
from doorstep.cli.console import console, errors
from doorstep.cli.options import DbOption, DbPoolSizeOption, PublicUrlOption, SpecsArgument

__all__ = ["worker"]


def worker(
    specs: SpecsArgument,
    db: DbOption = None,
    once: Annotated[bool, typer.Option("--once", help="Send what is due now, then exit.")] = False,
    concurrency: Annotated[
        int, typer.Option(min=1, max=256, help="Deliveries sent at the same time.")
    ] = 8,
    poll: Annotated[
        float, typer.Option(min=0.01, help="Seconds between looks at the outbox while busy.")
    ] = 0.5,
    lease_seconds: Annotated[
        float | None,
        typer.Option(
            min=0.1,
            help="Seconds a claimed delivery stays this worker's; when a worker dies, others "
            "send its deliveries again after this long. At least twice the longest connector "
            "timeout. Default: 3 times that timeout, at least 120.",
            show_default=False,
        ),
    ] = None,
    db_pool_size: DbPoolSizeOption = None,
    public_url: PublicUrlOption = None,
    log_level: Annotated[str, typer.Option(help="DEBUG, INFO, WARNING or ERROR.")] = "INFO",
) -> None:
    """Send the outbox's deliveries through the apps' connectors until Ctrl-C or SIGTERM.

    --db-pool-size defaults to half of --concurrency, at least 2 (with the burst, one
    connection per sending thread)."""
    from doorstep.runtime.worker import log_to_stderr, open_worker, run_until_signal

    log_to_stderr(log_level)
    with open_worker(
        specs,
        db,
        concurrency=concurrency,
        lease_seconds=lease_seconds,
        poll=poll,
        public_url=public_url,
        pool_size=db_pool_size or max(2, concurrency // 2),
    ) as opened:
        if once:
            deliveries_render.drained(console, opened.names, opened.drain())
            return
        deliveries_render.delivering(errors, opened, concurrency)
        run_until_signal(opened.dispatcher, lambda name: deliveries_render.stopping(errors, name))
