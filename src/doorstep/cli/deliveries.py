"""``doorstep deliveries`` (the outbox for operators) and ``doorstep worker`` (the dispatcher).

Each command parses, calls a service and renders. See docs/deliveries.md.
"""

from __future__ import annotations

import logging
import signal
import threading
from datetime import datetime
from pathlib import Path
from types import FrameType
from typing import Annotated, Any

import typer
from rich.table import Table

from doorstep.cli.console import console, errors, wide_when_piped
from doorstep.cli.errors import command_group
from doorstep.cli.store import DbOption, _actor, _open
from doorstep.errors import InputError
from doorstep.store.protocols import DeliveryChanges, DeliveryInfo  # light: no SQLAlchemy

__all__ = ["deliveries_app", "worker"]

TABLE_WIDTH = 200
"""Width of tables written to a pipe or file (a terminal's own width is used otherwise)."""

deliveries_app = command_group(
    help="The outbox: list, show, retry and cancel deliveries; re-enable a connector.",
    no_args_is_help=True,
)

LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")

IdsArgument = Annotated[
    list[str] | None,
    typer.Argument(help="Delivery ids (see `doorstep deliveries list`).", show_default=False),
]


@deliveries_app.command("list")
def deliveries_list(
    app: Annotated[str | None, typer.Option(help="Only this app.")] = None,
    state: Annotated[
        str | None,
        typer.Option(help="Only this state: held, pending, sending, delivered, dead, cancelled."),
    ] = None,
    connector: Annotated[str | None, typer.Option(help="Only this connector.")] = None,
    decision: Annotated[str | None, typer.Option(help="Only this decision's deliveries.")] = None,
    limit: Annotated[int, typer.Option(min=1, max=1000, help="Most rows shown.")] = 50,
    db: DbOption = None,
) -> None:
    """List deliveries, newest first, with their state, attempts and last result."""
    from doorstep.services.deliver.operations import list_deliveries

    with _open(db) as store:
        page = list_deliveries(
            store,
            app=app,
            state=state,
            connector=connector,
            decision_id=decision,
            limit=limit,
        )
        disabled = store.disabled_connectors(app)
    with wide_when_piped(TABLE_WIDTH):
        console.print(_list_table(page.items))
    if page.next_cursor:
        errors.print(f"Showing the newest {limit}; raise --limit or filter to see more.")
    for item in disabled:
        errors.print(
            f"[yellow]connector {item.app}/{item.connector} is disabled[/] since "
            f"{_when(item.disabled_at)}: {item.detail or ''} — `doorstep deliveries enable "
            f"{item.app} {item.connector}` sends its deliveries again.",
            highlight=False,
            soft_wrap=True,
        )


@deliveries_app.command("show")
def deliveries_show(
    delivery_id: Annotated[str, typer.Argument(help="The delivery's id.")],
    db: DbOption = None,
) -> None:
    """Show one delivery and every attempt made."""
    from doorstep.services.deliver.operations import get_delivery

    with _open(db) as store:
        info = get_delivery(store, delivery_id)
    summary = Table.grid(padding=(0, 2))
    for name, value in (
        ("id", info.id),
        ("key", info.key),
        ("decision", info.decision_id),
        ("app / action", f"{info.app} / {info.action}"),
        ("connector", info.connector),
        ("state", info.state),
        ("attempts", f"{info.attempts} in this cycle, {len(info.history)} in all"),
        ("next attempt", _when(info.next_attempt_at) if info.state == "pending" else ""),
        ("lease expires", _when(info.lease_expires_at)),
        ("delivered", _when(info.delivered_at)),
        ("last result", _result(info.last_status, info.last_detail)),
        ("created", _when(info.created_at)),
    ):
        summary.add_row(f"[bold]{name}[/]", value)
    table = Table("#", "worker", "started", "finished", "outcome", "status", "detail")
    for attempt in info.history:
        table.add_row(
            str(attempt.number),
            attempt.worker,
            _when(attempt.started_at),
            _when(attempt.finished_at),
            attempt.outcome or "(running)",
            "" if attempt.status is None else str(attempt.status),
            attempt.detail or "",
        )
    with wide_when_piped(TABLE_WIDTH):
        console.print(summary)
        console.print(table)


@deliveries_app.command("retry")
def deliveries_retry(
    ids: IdsArgument = None,
    dead: Annotated[bool, typer.Option("--dead", help="Every dead delivery of --app.")] = False,
    app: Annotated[str | None, typer.Option(help="The app, with --dead.")] = None,
    db: DbOption = None,
) -> None:
    """Send dead or cancelled deliveries again, with a fresh cycle of attempts."""
    from doorstep.services.deliver.operations import retry_dead, retry_deliveries

    if dead == bool(ids) or (dead and not app):
        raise InputError(
            "Name the deliveries to retry: their ids, or --dead --app APP for every dead "
            "delivery of an app."
        )
    with _open(db) as store:
        if dead:
            assert app is not None
            changes = retry_dead(store, app, actor=_actor())
        else:
            changes = retry_deliveries(store, ids or [], actor=_actor())
    _report(changes, "Re-queued", "dead or cancelled")


@deliveries_app.command("cancel")
def deliveries_cancel(ids: IdsArgument = None, db: DbOption = None) -> None:
    """Cancel held, pending or dead deliveries: they are never sent (retry undoes it)."""
    from doorstep.services.deliver.operations import cancel_deliveries

    if not ids:
        raise InputError("Name the deliveries to cancel by their ids.")
    with _open(db) as store:
        changes = cancel_deliveries(store, ids, actor=_actor())
    _report(changes, "Cancelled", "held, pending or dead")


@deliveries_app.command("enable")
def deliveries_enable(
    app: Annotated[str, typer.Argument(help="The app.")],
    connector: Annotated[str, typer.Argument(help="The connector's name in the spec.")],
    db: DbOption = None,
) -> None:
    """Send to a connector again after its target answered HTTP 410 Gone."""
    from doorstep.services.deliver.operations import enable_connector

    with _open(db) as store:
        changed = enable_connector(store, app, connector, actor=_actor())
    if changed:
        console.print(f"Enabled {app}/{connector}: its pending deliveries go out again.")
    else:
        console.print(f"{app}/{connector} was not disabled; nothing to do.")


def worker(
    specs: Annotated[
        list[Path],
        typer.Argument(help="Spec files (doorstep.yaml), or folders of them.", show_default=False),
    ],
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
    public_url: Annotated[
        str | None,
        typer.Option(
            envvar="DOORSTEP_PUBLIC_URL",
            help="Base URL of the doorstep server, for the templates' decision_url.",
        ),
    ] = None,
    log_level: Annotated[str, typer.Option(help="DEBUG, INFO, WARNING or ERROR.")] = "INFO",
) -> None:
    """Send the outbox's deliveries through the apps' connectors until Ctrl-C or SIGTERM."""
    from doorstep.services.deliver.connectors import read_app_connectors
    from doorstep.services.deliver.dispatcher import Dispatcher
    from doorstep.store import open_store

    if log_level.upper() not in LOG_LEVELS:
        raise InputError(
            f"--log-level must be one of {', '.join(LOG_LEVELS)}. Got {log_level!r} instead."
        )
    logging.basicConfig(
        level=log_level.upper(), format="%(asctime)s %(levelname)s %(name)s %(message)s"
    )
    logging.getLogger("alembic").setLevel(logging.WARNING)  # migrations say nothing new
    apps = read_app_connectors(specs)
    try:
        store = open_store(db)
    except BaseException:
        for opened in apps:
            opened.close()
        raise
    names = ", ".join(a.name for a in apps)
    try:
        dispatcher = Dispatcher(
            store,
            apps,
            concurrency=concurrency,
            lease_seconds=lease_seconds,
            poll_interval=poll,
            public_url=public_url,
        )
    except ValueError as exc:
        store.close()
        for opened in apps:
            opened.close()
        message = str(exc).replace("lease_seconds", "--lease-seconds", 1)
        raise InputError(
            f"{message}. Raise --lease-seconds or lower the connectors' timeout."
        ) from None
    try:
        if once:
            reports = dispatcher.drain()
            counts: dict[str, int] = {}
            for report in reports:
                counts[report.state] = counts.get(report.state, 0) + 1
            done = ", ".join(f"{n} {state}" for state, n in sorted(counts.items()))
            console.print(f"{len(reports)} attempts for {names}: {done or 'nothing was due'}.")
            return
        errors.print(
            f"Delivering for [bold]{names}[/] from {store.url} as {dispatcher.worker} "
            f"({concurrency} at a time). Ctrl-C stops after the sends in flight."
        )
        _run_until_signal(dispatcher)
    finally:
        dispatcher.close()
        store.close()


def _run_until_signal(dispatcher: Any) -> None:
    stop = threading.Event()

    def handle(signum: int, _frame: FrameType | None) -> None:
        if stop.is_set():  # a second Ctrl-C: leave now; leases hand the sends to others
            raise KeyboardInterrupt
        errors.print(f"Stopping ({signal.Signals(signum).name}) after the sends in flight…")
        stop.set()

    previous = {s: signal.signal(s, handle) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        dispatcher.run_forever(stop)
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def _report(changes: DeliveryChanges, verb: str, allowed: str) -> None:
    console.print(
        f"{verb} {len(changes.changed)} deliver{'y' if len(changes.changed) == 1 else 'ies'}."
    )
    for delivery_id, state in changes.skipped.items():
        errors.print(f"skipped {delivery_id}: it is {state}, not {allowed}", highlight=False)
    for delivery_id in changes.missing:
        errors.print(f"[bold red]error[/]: no delivery {delivery_id}", highlight=False)
    if changes.skipped or changes.missing:
        raise typer.Exit(code=1)


def _list_table(items: list[DeliveryInfo]) -> Table:
    table = Table()
    table.add_column("id", no_wrap=True, min_width=36)  # whole, to copy into other commands
    for name in ("app", "action", "connector", "state", "tries", "next attempt"):
        table.add_column(name)
    table.add_column("last result", overflow="fold")
    for item in items:
        table.add_row(
            item.id,
            item.app,
            item.action,
            item.connector,
            item.state,
            str(item.attempts),
            _when(item.next_attempt_at) if item.state == "pending" else "",
            _result(item.last_status, item.last_detail, width=60),
        )
    return table


def _when(moment: datetime | None) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S") if moment else ""


def _result(status: int | None, detail: str | None, *, width: int | None = None) -> str:
    text = detail or ""
    if status is not None and str(status) not in text:  # details of HTTP answers name it already
        text = f"{status} {text}".strip()
    if width is not None and len(text) > width:
        return text[: width - 1] + "…"
    return text
