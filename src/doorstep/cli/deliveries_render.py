"""How ``doorstep deliveries`` and ``doorstep worker`` show the outbox: a table of deliveries,
one delivery with its attempts, what a retry or a cancel changed, what a worker sent."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from rich.console import Console
from rich.table import Table

from doorstep.cli.console import wide_when_piped

if TYPE_CHECKING:
    from doorstep.runtime.worker import Worker
    from doorstep.store.protocols import (
        ConnectorState,
        DeliveryChanges,
        DeliveryPage,
    )
    from doorstep.types import Delivery

__all__ = [
    "TABLE_WIDTH",
    "changes",
    "deliveries",
    "delivering",
    "delivery",
    "drained",
    "stopping",
]

TABLE_WIDTH = 200
"""Width of tables written to a pipe or file (a terminal's own width is used otherwise): ids
stay whole, to be copied into other commands."""


def deliveries(
    console: Console,
    errors: Console,
    page: DeliveryPage,
    disabled: list[ConnectorState],
    limit: int,
) -> None:
    """A page of deliveries, newest first; then (on ``errors``) the cursor of the next page
    when there are more, and each connector that is disabled."""
    with wide_when_piped(TABLE_WIDTH):
        console.print(_list_table(page.items))
    if page.next_cursor:
        errors.print(
            f"Showing {len(page.items)}; there are more: add --cursor {page.next_cursor} for "
            f"the next {limit} (or filter by --app, --state, --connector or --decision).",
            highlight=False,
            soft_wrap=True,
        )
    for item in disabled:
        errors.print(
            f"[yellow]connector {item.app}/{item.connector} is disabled[/] since "
            f"{_when(item.disabled_at)}: {item.detail or ''} — `doorstep deliveries enable "
            f"{item.app} {item.connector}` sends its deliveries again.",
            highlight=False,
            soft_wrap=True,
        )


def delivery(console: Console, info: Delivery) -> None:
    """One delivery: what, where, its state, then every attempt made."""
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


def changes(
    console: Console, errors: Console, done: DeliveryChanges, verb: str, allowed: str
) -> None:
    """How many deliveries a retry or a cancel changed; each one skipped or missing (on
    ``errors``)."""
    count = len(done.changed)
    console.print(f"{verb} {count} deliver{'y' if count == 1 else 'ies'}.")
    for delivery_id, state in done.skipped.items():
        errors.print(f"skipped {delivery_id}: it is {state}, not {allowed}", highlight=False)
    for delivery_id in done.missing:
        errors.print(f"[bold red]error[/]: no delivery {delivery_id}", highlight=False)


def drained(console: Console, names: str, counts: dict[str, int]) -> None:
    """What ``doorstep worker --once`` sent: attempts by resulting state."""
    done = ", ".join(f"{n} {state}" for state, n in sorted(counts.items()))
    attempts = sum(counts.values())
    console.print(f"{attempts} attempts for {names}: {done or 'nothing was due'}.")


def delivering(errors: Console, worker: Worker, concurrency: int) -> None:
    """The worker has started: for which apps, from which store, as which worker."""
    errors.print(
        f"Delivering for [bold]{worker.names}[/] from {worker.store.url} as "
        f"{worker.dispatcher.worker} ({concurrency} at a time). Ctrl-C stops after the sends "
        f"in flight (cut short after {worker.dispatcher.stop_grace:g} s)."
    )


def stopping(errors: Console, signal_name: str) -> None:
    from doorstep.services.deliver.dispatcher import STOP_GRACE

    errors.print(
        f"Stopping ({signal_name}) after the sends in flight (those still going after "
        f"{STOP_GRACE:g} s are cut short and retried)…"
    )


def _list_table(items: list[Delivery]) -> Table:
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
