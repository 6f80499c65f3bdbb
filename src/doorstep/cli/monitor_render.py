"""How ``doorstep monitor`` and ``doorstep report`` show what they computed: the monitoring
report (counts, a quality table with 95% intervals, reviews, ROI, drift), an alert run, and the
report file written; ``--json`` prints the report object as is."""

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
    SpinnerColumn,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table

from doorstep.cli.console import console

if TYPE_CHECKING:
    from doorstep.services.monitor.on_demand import AlertRun, Stage, WrittenReport
    from doorstep.types import Interval, MonitoringReport, QualityMetric

__all__ = [
    "alert_run",
    "render_alerts",
    "render_replay",
    "render_report",
    "report",
    "report_steps",
    "written",
]


def report(found: MonitoringReport, *, as_json: bool) -> None:
    """The monitoring report: as JSON, or for people (:func:`render_report`)."""
    if as_json:
        typer.echo(json.dumps(found.to_dict(), indent=2))
        return
    render_report(found)


def alert_run(run: AlertRun, *, as_json: bool) -> None:
    """An alert run: as JSON, or for people (:func:`render_alerts`, then what was sent)."""
    if as_json:
        typer.echo(json.dumps(run.result, indent=2))
        return
    if run.result.get("dry_run"):
        render_replay(run.result)
        return
    render_alerts(run.result)
    if run.attempts:
        console.print(
            f"Sent {run.delivered} of {run.attempts} deliveries due for {run.result['app']}."
        )


@contextmanager
def report_steps() -> Iterator[Stage]:
    """A transient progress bar for ``doorstep report``, moved on by the stages it is told."""
    bar = Progress(
        SpinnerColumn(),
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("steps"),
        TimeElapsedColumn(),
        console=console,
        transient=True,
    )
    with bar:
        task = bar.add_task("Reading the spec", total=None)

        def stage(description: str, done: int, stages: int) -> None:
            bar.update(task, description=description, completed=done, total=stages)

        yield stage


def written(done: WrittenReport) -> None:
    """One line on the HTML report written: where, how big, what it covers."""
    found = done.report
    counts = found.counts
    drift = found.drift
    console.print(
        f"Wrote [bold]{done.path}[/] ({done.size / 1024:.0f} KB, loads nothing): app "
        f"{found.app}, {len(found.quality.windows)} {found.window} windows, "
        f"{counts.decisions} decisions, {counts.labelled} with an outcome; "
        f"ROI {found.roi.conclusion}; drift "
        f"{drift.status if drift else 'not measured'}.",
        highlight=False,
        soft_wrap=True,
    )


def render_alerts(result: dict[str, Any], out: Console | None = None) -> None:
    """An alert run for people: the window judged, each subject not ok, what changed."""
    out = out or console
    out.print(
        f"[bold]{result['app']}[/]: {result['window']} window {result['start'][:16]} to "
        f"{result['end'][:16]}: [bold]{result['status']}[/]",
        highlight=False,
    )
    for obs in result["observations"]:
        if obs["status"] == "ok":
            continue
        what = "; ".join(obs["checks"]) or obs["status"]
        out.print(f"  {obs['subject']:32} {obs['status']:17} {what}", highlight=False)
    for change in result["transitions"]:
        out.print(
            f"  {change['event']} {change['subject']} ({change['deliveries']} messages)",
            highlight=False,
        )
    if not result["transitions"]:
        out.print("  no alert raised or resolved by this run", highlight=False)
    if result["open_alerts"]:
        listed = ", ".join(f"{k} ({v})" for k, v in sorted(result["open_alerts"].items()))
        out.print(f"  open: {listed}", highlight=False, soft_wrap=True)
    retrain = result.get("retrain")
    if retrain:
        out.print(f"  retraining command {retrain['argv']} exited {retrain['returncode']}")


def render_replay(result: dict[str, Any], out: Console | None = None) -> None:
    """A dry replay for people: per window, its status, each subject not ok and what a live
    run would have raised or resolved there."""
    out = out or console
    out.print(
        f"[bold]{result['app']}[/]: replay of the {result['window']} windows from "
        f"{result['since'][:16]} to {result['until'][:16]}, dry (nothing recorded or sent): "
        f"worst [bold]{result['status']}[/]",
        highlight=False,
        soft_wrap=True,
    )
    for entry in result["windows"]:
        out.print(f"{entry['start'][:16]}  {entry['status']}", highlight=False)
        for subject in entry["subjects"]:
            what = "; ".join(subject["checks"]) or subject["status"]
            out.print(
                f"  {subject['subject']:32} {subject['status']:17} {what}",
                highlight=False,
                soft_wrap=True,
            )
        for change in entry["would"]:
            out.print(
                f"  would send {change['event']} {change['subject']} "
                f"({change['deliveries']} messages)",
                highlight=False,
            )
    if not result["windows"]:
        out.print("  no complete window in the range", highlight=False)
    if result["open_alerts"]:
        listed = ", ".join(f"{k} ({v})" for k, v in sorted(result["open_alerts"].items()))
        out.print(f"  open at the end: {listed}", highlight=False, soft_wrap=True)


def _interval(item: Interval | None, scale: float = 1.0, digits: int = 3) -> str:
    if item is None or item.value is None:
        return "—"
    text = f"{item.value * scale:.{digits}f}"
    if item.low is not None and item.high is not None:
        text += f" [{item.low * scale:.{digits}f}, {item.high * scale:.{digits}f}]"
    return text


def render_report(report: MonitoringReport, out: Console | None = None) -> None:
    """The monitoring report for people: counts, a quality table (95% intervals on the whole
    range), reviews, ROI and its conclusion in a sentence."""
    from doorstep.core.stats.roi_report import RoiReport

    out = out or console
    counts = report.counts
    out.print(
        f"[bold]{report.app}[/]: decisions from {report.since.isoformat()[:16]} to "
        f"{report.until.isoformat()[:16]} ({report.window} windows): {counts.decisions} "
        f"decisions, {counts.labelled} with an outcome",
        highlight=False,
        soft_wrap=True,
    )
    unmatched = counts.unmatched_outcomes
    if unmatched:
        out.print(f"  unmatched outcomes: {unmatched}", highlight=False)
    total = report.quality.total
    shown: tuple[QualityMetric, ...] = (
        "auc", "precision", "recall", "brier", "accuracy", "mae", "rmse",
    )  # fmt: skip
    metrics = [k for k in shown if total.metric(k) is not None]
    table = Table(title="Live quality (all: with 95% intervals)", title_justify="left")
    table.add_column("window")
    table.add_column("labelled", justify="right")
    for name in metrics:
        table.add_column(name)
    width = 13 if report.window == "hour" else 10
    for entry in report.quality.windows:
        if entry.quality.labelled:
            label = entry.start.isoformat()[:width] + ("" if entry.quality.enough else " (few)")
            values = [_value(entry.quality.metric(m)) for m in metrics]
            table.add_row(label, str(entry.quality.labelled), *values)
    label = "[bold]all[/]" + ("" if total.enough else " (few)")
    table.add_row(label, str(total.labelled), *(_interval(total.metric(m)) for m in metrics))
    out.print(table)
    overrides = report.overrides
    if overrides.reviewed or overrides.pending_review:
        line = f"Reviews: {overrides.pending_review} pending, {overrides.reviewed} verdicts"
        if overrides.reviewed:
            line += (
                f", {overrides.overridden} overrides "
                f"({_interval(overrides.override_rate, 100, 1)} %)"
            )
        judgement = overrides.judgement
        if judgement is not None and judgement.judged:
            line += (
                f"; overrides right {judgement.right} of {judgement.judged} "
                f"({_interval(judgement.right_rate, 100, 1)} %)"
            )
        out.print(line, highlight=False, soft_wrap=True)
    roi = report.roi
    if isinstance(roi, RoiReport):
        scale, unit = (100, " points") if roi.kind == "label" else (1, "")
        out.print(
            f"ROI: uplift {_interval(roi.uplift, scale, 1)}{unit}, value "
            f"{_interval(roi.value, 1, 0)} "
            f"(treated {roi.treated.outcomes}, control {roi.control.outcomes} "
            "outcomes)",
            highlight=False,
            soft_wrap=True,
        )
    out.print(f"[bold]{roi.conclusion}[/]: {roi.message}", highlight=False, soft_wrap=True)
    if report.drift is not None:
        from doorstep.cli.drift_render import render_drift

        render_drift(report.drift, out, window=report.window)


def _value(item: Interval | None) -> str:
    """A window's value, without its interval."""
    return "—" if item is None or item.value is None else f"{item.value:.3f}"
