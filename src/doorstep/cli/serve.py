"""``doorstep serve``: the decision API on uvicorn, for one or more apps."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from doorstep.cli.console import console

__all__ = ["serve"]


def serve(
    specs: Annotated[
        list[Path],
        typer.Argument(help="Spec files (doorstep.yaml), or folders of them.", show_default=False),
    ],
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    db: Annotated[
        str | None,
        typer.Option(help="Database URL (default: DOORSTEP_DATABASE_URL, else .doorstep/)."),
    ] = None,
    workers: Annotated[int, typer.Option(min=1, help="Worker processes.")] = 1,
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
    public_url: Annotated[
        str | None,
        typer.Option(
            help="Base URL people reach this server at; deliveries link decisions under it.",
            envvar="DOORSTEP_PUBLIC_URL",
        ),
    ] = None,
    access_log: Annotated[bool, typer.Option(help="Log every request.")] = False,
) -> None:
    """Serve the decision API (and its docs at /docs) for one or more apps."""
    import uvicorn

    from doorstep.services.governance.keys import ensure_admin_key
    from doorstep.store import open_store
    from doorstep.web.factory import build_app, export_env
    from doorstep.web.settings import ServeSettings

    base = f"http://{'127.0.0.1' if host in ('0.0.0.0', '::') else host}:{port}"
    settings = ServeSettings(
        max_wait_ms=batch_wait_ms,
        max_batch=max_batch,
        deliver=deliver,
        schedules=schedules,
        public_url=public_url or base,
    )
    store = open_store(db)
    secret = ensure_admin_key(store)
    app = build_app(specs, store, settings)
    names = ", ".join(app.state.service.registry.apps)
    console.print(f"Serving [bold]{names}[/] on {base} — API docs: [link]{base}/docs[/]")
    console.print(f"Decide: POST {base}/v1/apps/<app>/decisions    store: {store.url}")
    if secret is not None:
        console.print(
            "\n[bold]Admin API key (shown once, store it now):[/]\n"
            f"  {secret}\n"
            "Make keys for clients with: doorstep keys create --role client --name NAME\n"
        )
    if workers == 1:
        uvicorn.run(app, host=host, port=port, access_log=access_log, log_level="info")
        return
    export_env(specs, db, settings)
    uvicorn.run(
        "doorstep.web.factory:app_from_env",
        factory=True,
        workers=workers,
        host=host,
        port=port,
        access_log=access_log,
        log_level="info",
    )
