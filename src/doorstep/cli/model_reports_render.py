"""How ``doorstep models backtest`` and ``compare`` print: Rich tables side by side, or JSON."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from doorstep.cli.console import console

if TYPE_CHECKING:  # the command line starts without polars: the reports load it
    from doorstep.core.stats.intervals import Interval
    from doorstep.core.stats.quality_report import QualityReport
    from doorstep.services.rollout.backtest_report import BacktestReport, BacktestSide
    from doorstep.services.rollout.compare_report import Comparison, VersionSide

__all__ = ["ReplayBar", "backtest", "comparison", "interval", "replay_bar"]


class ReplayBar:
    """Decisions replayed so far, out of those in the range."""

    def __init__(self, progress: Progress | None) -> None:
        self._progress = progress
        self._task: TaskID | None = (
            progress.add_task("Replaying", total=None) if progress is not None else None
        )

    def total(self, rows: int) -> None:
        if self._progress is not None and self._task is not None:
            self._progress.update(self._task, total=rows)

    def advance(self, rows: int) -> None:
        if self._progress is not None and self._task is not None:
            self._progress.advance(self._task, rows)


@contextmanager
def replay_bar(out: Console, *, quiet: bool) -> Iterator[ReplayBar]:
    """A progress bar on standard error (none with ``--json``, whose output is data)."""
    if quiet:
        yield ReplayBar(None)
        return
    columns = (
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("decisions"),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=Console(stderr=True), transient=True) as bar:
        yield ReplayBar(bar)


def interval(found: Interval | None, *, scale: float = 1.0, digits: int = 3) -> str:
    """``0.812 [0.790, 0.834]``, or ``–`` when nothing was measured."""
    if found is None or found.value is None:
        return "–"
    text = f"{found.value * scale:.{digits}f}"
    if found.low is not None and found.high is not None:
        text += f" [{found.low * scale:.{digits}f}, {found.high * scale:.{digits}f}]"
    return text


def _quality_rows(one: QualityReport | None, two: QualityReport | None) -> list[list[str]]:
    names: list[str] = []
    for report in (one, two):
        if report is not None:
            names += [str(n) for n in report.metrics if str(n) not in names]
    rows = []
    for name in names:
        cells = [name]
        for report in (one, two):
            metric = report.metrics.get(name) if report is not None else None  # type: ignore[call-overload]
            cells.append(interval(metric))
        rows.append(cells)
    return rows


def _value(side: BacktestSide) -> str:
    found = side.expected_value
    if found is None:
        return "– (no ROI for this app)"
    if found.value.value is None:
        return f"– ({found.note})" if found.note else "–"
    return interval(found.value, digits=0)


def backtest(found: BacktestReport, *, as_json: bool) -> None:
    if as_json:
        typer.echo(json.dumps(found.as_dict(), indent=2))
        return
    old, new = found.champion, found.candidate
    span = f"{_time(found.since)} to {_time(found.until)}"
    console.print(
        f"[bold]Backtest of {found.app} version {found.candidate_version}[/]: "
        f"{found.decisions} stored decisions from {span} replayed; "
        f"{found.flips} flip action ({_share(found.flips, found.decisions)}).",
        highlight=False,
        soft_wrap=True,
    )
    if found.not_replayed:
        console.print(
            f"[yellow]{found.not_replayed} decisions not replayed[/]: their recorded inputs "
            f"break today's input contract (e.g. {found.not_replayed_examples[0]})",
            highlight=False,
            soft_wrap=True,
        )
    table = Table(title="Champion (as recorded) and candidate")
    table.add_column("")
    table.add_column(", ".join(old.versions) or "champion")
    table.add_column(found.candidate_version)
    table.add_row("acting", str(old.acting), str(new.acting))
    table.add_row("sent to review", str(old.review), str(new.review))
    table.add_row("control group", str(old.control), str(new.control))
    for action in sorted(set(old.actions) | set(new.actions)):
        counts = (old.actions.get(action, 0), new.actions.get(action, 0))
        table.add_row(f"  {action}", *(str(n) for n in counts))
    table.add_row("with an outcome", str(found.labelled), str(found.labelled))
    for row in _quality_rows(old.quality, new.quality):
        table.add_row(*row)
    table.add_row("expected value", _value(old), _value(new))
    console.print(table)
    console.print(_transitions(found))
    console.print(f"[bold]Verdict[/]: {found.verdict}", highlight=False, soft_wrap=True)
    if found.sample:
        console.print(_flips(found))


def _transitions(found: BacktestReport) -> Table:
    before = sorted({a for a, _ in found.transitions})
    after = sorted({b for _, b in found.transitions})
    table = Table(title="Actions: champion (rows) → candidate (columns)")
    table.add_column("")
    for name in after:
        table.add_column(name, justify="right")
    for a in before:
        table.add_row(a, *(str(found.transitions.get((a, b), 0)) for b in after))
    return table


def _flips(found: BacktestReport) -> Table:
    table = Table(title=f"Decisions that flip (a sample of {len(found.sample)})")
    for name in ("decision", "entity", "champion", "candidate", "champion's reasons",
                 "candidate's reasons"):  # fmt: skip
        table.add_column(name, overflow="fold")
    for flip in found.sample:
        table.add_row(
            flip.decision_id,
            flip.entity_id,
            f"{flip.champion_action} ({flip.champion_score:.3f})",
            f"{flip.candidate_action} ({flip.candidate_score:.3f})",
            "\n".join(flip.champion_reasons) or "–",
            "\n".join(flip.candidate_reasons) or "–",
        )
    return table


def _share(part: int, whole: int) -> str:
    return f"{part / whole:.1%}" if whole else "–"


def _time(moment: Any) -> str:
    return "the start" if moment is None else moment.isoformat(timespec="seconds")


def comparison(found: Comparison, *, as_json: bool) -> None:
    if as_json:
        typer.echo(json.dumps(found.as_dict(), indent=2))
        return
    one, two = found.champion, found.challenger
    console.print(
        f"[bold]{found.app}[/]: champion {one.version} against "
        f"{'no challenger' if two is None else f'{two.version} ({found.mode})'}, "
        f"{found.window} windows from {_time(found.since)} to {_time(found.until)}.",
        highlight=False,
        soft_wrap=True,
    )
    if two is not None:
        table = Table(title="Champion and challenger")
        table.add_column("")
        table.add_column(f"{one.version} (champion)")
        table.add_column(f"{two.version} ({two.role})")
        decided = "shadow rows" if two.role == "shadow" else "decisions"
        table.add_row("decisions", str(one.decisions), f"{two.decisions} {decided}")
        table.add_row("acting", str(one.acting), str(two.acting))
        table.add_row("with an outcome", str(one.labelled), str(two.labelled))
        for row in _quality_rows(one.quality, two.quality):
            table.add_row(*row)
        table.add_row("override rate", _rate(one), _rate(two))
        table.add_row("ROI (uplift)", _roi(one), _roi(two))
        table.add_row("value", _version_value(one), _version_value(two))
        console.print(table)
        console.print(_windows(found))
    if found.others:
        console.print(f"Other versions in the range: {', '.join(found.others)} (--challenger).")
    console.print(f"[bold]Verdict[/]: {found.verdict}", highlight=False, soft_wrap=True)


def _rate(side: VersionSide) -> str:
    if side.role == "shadow":
        return f"– (would send {side.reviewed} to review)"
    rate = side.override_rate
    return "– (none reviewed)" if rate is None else f"{rate:.1%} of {side.reviewed} reviewed"


def _roi(side: VersionSide) -> str:
    if side.roi is None:
        return "– (acted on nothing)" if side.role == "shadow" else "–"
    return f"{interval(side.roi.uplift, scale=100, digits=1)} points ({side.roi.conclusion})"


def _version_value(side: VersionSide) -> str:
    if side.expected_value is not None:
        found = side.expected_value.value
        return f"{interval(found, digits=0)} expected" if found.value is not None else "–"
    if side.roi is not None and side.roi.value.value is not None:
        return interval(side.roi.value, digits=0)
    return "–"


def _windows(found: Comparison) -> Table:
    assert found.challenger is not None
    metric = found.difference.metric if found.difference is not None else "auc"
    table = Table(title=f"{metric} per {found.window}")
    table.add_column("window")
    table.add_column(found.champion.version)
    table.add_column(found.challenger.version)
    pairs = zip(found.champion.windows, found.challenger.windows, strict=True)
    for one, two in pairs:
        if not one.quality.labelled and not two.quality.labelled:
            continue
        table.add_row(
            _time(one.start),
            f"{interval(one.quality.metrics.get(metric))} (n={one.quality.labelled})",  # type: ignore[call-overload]
            f"{interval(two.quality.metrics.get(metric))} (n={two.quality.labelled})",  # type: ignore[call-overload]
        )
    return table
