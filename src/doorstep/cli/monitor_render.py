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
    from doorstep.types import Interval, MonitoringReport, QualityMetric, QualitySection

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
    quality = report.quality
    judging = quality.status is not None
    table = Table(title="Live quality", title_justify="left")
    width = 13 if report.window == "hour" or report.window.endswith("rows") else 10
    table.add_column("window", min_width=width)  # a date is never cut
    table.add_column("labelled", justify="right")
    if judging:
        table.add_column("status")
    for name in metrics:
        table.add_column(name, min_width=len(name))
    few = "" if judging else " (few)"  # the status column says it when judging
    for entry in quality.windows:
        if entry.quality.labelled:
            label = entry.start.isoformat()[:width] + ("" if entry.quality.enough else few)
            values = [
                _judged(_value(entry.quality.metric(m)), entry.statuses.get(m) if judging else None)
                for m in metrics
            ]
            status = [_status(entry.status)] if judging else []
            table.add_row(label, str(entry.quality.labelled), *status, *values)
    label = "[bold]all[/]" + ("" if total.enough else " (few)")
    values = [
        _judged(_value(total.metric(m)), quality.total_statuses.get(m) if judging else None)
        for m in metrics
    ]
    table.add_row(label, str(total.labelled), *(["—"] if judging else []), *values)
    out.print(table)
    whole = "; ".join(f"{m} {_interval(total.metric(m))}" for m in metrics)
    out.print(f"All, with 95% intervals: {whole or '—'}", highlight=False, soft_wrap=True)
    if quality.thresholds or quality.derived:
        out.print(_thresholds(quality), highlight=False, soft_wrap=True)
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
    if report.versions is not None:
        from doorstep.cli.versions_render import render_versions

        render_versions(report.versions, out)
    if report.rejects is not None:
        from doorstep.cli.rejects_render import render_rejects

        render_rejects(report.rejects, out, width=width)
    if report.drift is not None:
        from doorstep.cli.drift_render import render_drift

        render_drift(report.drift, out, window=report.window)
    if report.estimated is not None:
        from doorstep.cli.estimation_render import render_estimation

        render_estimation(report.estimated, out, window=report.window)


_MARK = {"ok": "✓", "warn": "▲", "alert": "✖", "insufficient_data": "…"}
_WORD = {"ok": "✓ ok", "warn": "▲ warn", "alert": "✖ alert", "insufficient_data": "… too few"}
_STYLE = {"warn": "yellow", "alert": "bold red", "insufficient_data": "dim"}


def _judged(text: str, status: str | None) -> str:
    """A metric's value with its status as a mark (never colour alone; the window's status
    column and the legend give the words)."""
    if status is None:
        return text
    style = _STYLE.get(status)
    shown = f"{text} {_MARK.get(status, status)}"
    return f"[{style}]{shown}[/]" if style else shown


def _status(status: str | None) -> str:
    if status is None:
        return "—"
    word = _WORD.get(status, status)
    style = _STYLE.get(status)
    return f"[{style}]{word}[/]" if style else word


def _thresholds(quality: QualitySection) -> str:
    """The thresholds the statuses come from, and the rule for too few outcomes."""
    parts = []
    for name, limit in quality.thresholds.items():
        sign = "≥" if limit.direction == "higher_is_worse" else "≤"
        levels = [f"{level} {sign} {value:g}" for level, value in
                  (("warn", limit.warn), ("alert", limit.alert)) if value is not None]  # fmt: skip
        derived = quality.derived.get(name)
        if derived is not None and derived.mean is not None and derived.std is not None:
            levels.append(
                f"from the reference: mean {derived.mean:.4g}, σ {derived.std:.3g}, "
                f"k {derived.k:g}, {derived.windows} windows of {derived.size}"
            )
        parts.append(f"{name} {', '.join(levels)}")
    parts += [f"{name} none: {d.note}" for name, d in quality.derived.items() if d.note]
    return (
        f"Thresholds (monitoring.alerts.quality): {'; '.join(parts)}. Worst window: "
        f"{_status(quality.status)}. Marks: ✓ ok, ▲ warn, ✖ alert, … too few: a window with "
        f"fewer than {quality.min_labelled} labelled decisions is insufficient_data."
    )


def _value(item: Interval | None) -> str:
    """A window's value, without its interval."""
    return "—" if item is None or item.value is None else f"{item.value:.3f}"
