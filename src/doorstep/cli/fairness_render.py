"""How ``doorstep fairness`` shows what it computed: one table per attribute (groups as rows,
rates with 95% intervals, "too few" below the minimum), the disparities in sentences; ``--json``
prints the report object as is."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

import typer
from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from doorstep.cli.console import console

if TYPE_CHECKING:
    from doorstep.core.stats.fairness_report import AttributeFairness, Disparity, GroupFairness
    from doorstep.services.monitor.fairness import FairnessReport
    from doorstep.types import Interval

__all__ = ["reading", "render_report", "report"]

TOO_FEW = "too few"


@contextmanager
def reading() -> Iterator[Callable[[int], None]]:
    """A transient spinner counting the decisions read."""
    bar = Progress(
        SpinnerColumn(),
        TextColumn("[bold]{task.description}"),
        TimeElapsedColumn(),
        console=console,
        transient=True,
    )
    with bar:
        task = bar.add_task("Reading decisions", total=None)

        def on_rows(rows: int) -> None:
            bar.update(task, description=f"Reading decisions: {rows:,}")

        yield on_rows


def report(found: FairnessReport, *, as_json: bool) -> None:
    """The fairness report: as JSON, or for people (:func:`render_report`)."""
    if as_json:
        typer.echo(json.dumps(found.to_dict(), indent=2))
        return
    render_report(found)


def _rate(item: Interval, enough: bool) -> str:
    if not enough:
        return TOO_FEW
    if item.value is None:
        return "—"
    text = f"{item.value:.1%}"
    if item.low is not None and item.high is not None:
        text += f" [{item.low:.1%}, {item.high:.1%}]"
    return text


def _number(item: Interval, *, percent: bool) -> str:
    if item.value is None:
        return "—"
    form = ".1%" if percent else ".2f"
    text = format(item.value, form)
    if item.low is not None and item.high is not None:
        text += f" [{format(item.low, form)}, {format(item.high, form)}]"
    return text


def _disparity(name: str, found: Disparity, *, percent: bool, minimum: int) -> str:
    if found.estimate.value is None:
        return f"{name}: — (needs two groups of at least {minimum})"
    return (
        f"{name}: {_number(found.estimate, percent=percent)} "
        f"({found.high_group} highest, {found.low_group} lowest)"
    )


def render_report(found: FairnessReport, out: Console | None = None) -> None:
    """Per attribute: a table of groups and the disparities between them."""
    out = out or console
    version = f", model version {found.version}" if found.version else ""
    out.print(
        f"[bold]{found.app}[/]: decisions from {found.since.isoformat()[:16]} to "
        f"{found.until.isoformat()[:16]}{version}: {found.decisions} decisions, "
        f"{found.labelled} with an outcome; selected = {found.selected}; groups need "
        f"{found.min_group} decisions (monitoring.fairness.min_group)",
        highlight=False,
        soft_wrap=True,
    )
    for attribute in found.attributes:
        _attribute(out, attribute)


def _attribute(out: Console, found: AttributeFairness) -> None:
    shown = found.field if found.field == found.attribute else f"{found.attribute} ({found.field})"
    table = Table(title=f"By {shown}", title_justify="left")
    actions = [a for a in found.overall.selection if a != "selected"]
    table.add_column("group")
    table.add_column("decisions", justify="right")
    table.add_column("selected", justify="right")
    for action in actions:
        table.add_column(action, justify="right")
    if found.outcomes:
        for name in ("TPR", "FPR", "mean score", "observed rate"):
            table.add_column(name, justify="right")
    for group in (*found.groups, found.overall):
        table.add_row(*_row(group, actions, found.outcomes, found.min_group))
    out.print(table)
    minimum = found.min_group
    lines = [
        _disparity(
            "demographic-parity difference",
            found.parity_difference["selected"],
            percent=True,
            minimum=minimum,
        ),
        _disparity(
            "demographic-parity ratio",
            found.parity_ratio["selected"],
            percent=False,
            minimum=minimum,
        ),
    ]
    if found.outcomes:
        lines.append(
            _disparity(
                "equalized-odds difference",
                found.equalized_odds_difference,
                percent=True,
                minimum=minimum,
            )
        )
    if found.too_few:
        lines.append(f"too few (under {minimum} decisions): {', '.join(found.too_few)}")
    for line in lines:
        out.print(f"  {line}", highlight=False, soft_wrap=True)


def _row(group: GroupFairness, actions: list[str], outcomes: bool, minimum: int) -> list[str]:
    enough = group.enough or group.group == "all"
    cells = [group.group, str(group.decisions), _rate(group.selection["selected"], enough)]
    cells += [_rate(group.selection[a], enough) for a in actions]
    if outcomes:
        cells += [
            _rate(group.true_positive_rate, group.positives >= minimum),
            _rate(group.false_positive_rate, group.negatives >= minimum),
            _number(group.mean_score, percent=False) if group.labelled >= minimum else TOO_FEW,
            _rate(group.observed_rate, group.labelled >= minimum),
        ]
    return cells
