"""How ``doorstep runs`` and ``doorstep score --from`` show runs: a table of runs whose ids stay
whole (to be copied into ``doorstep runs show``), and a finished run's counts."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING

from rich.console import Console
from rich.table import Table

from doorstep.cli.console import wide_when_piped

if TYPE_CHECKING:
    from doorstep.store.runs import RunInfo

__all__ = ["TABLE_WIDTH", "import_done", "run_done", "runs"]

TABLE_WIDTH = 160
"""Width of the runs table written to a pipe or file (a terminal's own width is used
otherwise)."""


def runs(console: Console, items: list[RunInfo]) -> None:
    """Runs, one row each, with their counts. The id column is never cut or wrapped, whatever
    the width: the other columns fold instead. A running run whose lease expired says since
    when (its runner stopped)."""
    with wide_when_piped(TABLE_WIDTH):
        console.print(_table(items, datetime.now(UTC)))


def _table(items: list[RunInfo], now: datetime) -> Table:
    from doorstep.services.runs.views import state_label

    table = Table()
    table.add_column("run", no_wrap=True, min_width=36)  # whole, to copy into runs show
    table.add_column("app", overflow="fold")
    table.add_column("schedule", overflow="fold")
    table.add_column("slot", overflow="fold")
    table.add_column("source", overflow="fold")  # a spec's source, query or file:NAME
    table.add_column("state", overflow="fold")
    for name in ("rows", "decided", "rejected"):
        table.add_column(name, justify="right", overflow="fold")
    for run in items:
        table.add_row(
            run.id,
            run.app,
            run.schedule or "(by hand)",
            run.slot.strftime("%Y-%m-%d %H:%M") if run.slot else "",
            run.source,
            state_label(run, now),
            str(run.rows),
            str(run.decided),
            str(run.rejected),
        )
    return table


def run_done(console: Console, errors: Console, run: RunInfo) -> None:
    """A run by hand, finished: its counts, then its first rejected entities (on ``errors``)."""
    console.print(
        f"Run [bold]{run.id}[/] {run.state}: {run.rows} rows, {run.decided} decided, "
        f"{run.rejected} rejected, {run.deliveries} deliveries enqueued "
        f"(doorstep runs show {run.id})",
        soft_wrap=True,
    )
    for error in run.errors[:5]:
        errors.print(f"  {error['entity_id']}: {error['message']}", highlight=False)


def import_done(console: Console, errors: Console, run: RunInfo, name: str, shown: int) -> None:
    """An import, finished: its counts (rows imported before are left out, and said so), then
    its first rejected rows as ``FILE:ROW:FIELD:RULE: message`` (on ``errors``)."""
    done = int(run.checkpoint or 0)
    before = max(0, done - run.rows)
    console.print(
        f"Import [bold]{run.id}[/] {run.state}: {done:,} rows read, {run.decided:,} decisions "
        f"recorded, {run.rejected:,} rows rejected, {before:,} imported before "
        f"(doorstep runs show {run.id})",
        soft_wrap=True,
    )
    for error in run.errors[:shown]:
        field = error.get("field") or ""
        errors.print(
            f"  {name}:{error.get('record')}:{field}:{error.get('rule')}: {error['message']}",
            highlight=False,
            soft_wrap=True,
        )
    if run.error:
        errors.print(f"[bold red]error[/]: {run.error}", highlight=False, soft_wrap=True)
