"""How ``doorstep consume`` and ``doorstep streams list`` show streams."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING

from rich.console import Console
from rich.table import Table

if TYPE_CHECKING:
    from doorstep.store.streams import StreamSummary

__all__ = ["consuming", "stopping", "streams"]


def consuming(errors: Console, names: list[str], store: str) -> None:
    errors.print(
        f"Consuming [bold]{', '.join(names)}[/] into {store}. Ctrl-C stops after the "
        "micro-batches in hand are committed and acknowledged."
    )


def stopping(errors: Console, signal_name: str) -> None:
    errors.print(f"Stopping ({signal_name}) after the micro-batches in hand…")


def streams(console: Console, found: list[StreamSummary]) -> None:
    if not found:
        console.print("No stream has been consumed yet (doorstep consume SPEC).")
        return
    now = datetime.now(UTC)
    table = Table()
    for name in ("app", "stream", "source", "consumers", "lag", "msg/s", "received"):
        table.add_column(name, overflow="fold")
    for name in ("decided", "duplicates", "rejected", "dead letters", "errors", "last error"):
        table.add_column(name, overflow="fold")
    for s in found:
        error = "" if s.last_error is None else f"{_ago(now, s.last_error_at)}: {s.last_error}"
        table.add_row(
            s.app,
            s.stream,
            s.source,
            str(s.consumers),
            "?" if s.lag is None else str(s.lag),
            f"{s.rate:.1f}",
            str(s.received),
            str(s.decided),
            str(s.duplicates),
            str(s.rejected),
            str(s.dead_letters),
            str(s.errors),
            error,
        )
    console.print(table)


def _ago(now: datetime, then: datetime | None) -> str:
    if then is None:
        return ""
    seconds = max(0, int((now - then).total_seconds()))
    if seconds < 120:
        return f"{seconds} s ago"
    if seconds < 7200:
        return f"{seconds // 60} min ago"
    return then.strftime("%Y-%m-%d %H:%M UTC")
