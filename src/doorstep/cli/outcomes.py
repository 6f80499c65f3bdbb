"""``doorstep outcomes import``, ``doorstep monitor`` and ``doorstep export training-data``:
feedback from the command line. Each command parses, calls a service and renders.
See docs/monitoring.md."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from doorstep.cli.console import console, errors
from doorstep.cli.errors import command_group
from doorstep.cli.store import DbOption, _actor, _open
from doorstep.errors import InputError

__all__ = ["export_app", "monitor", "outcomes_app", "render_alerts", "render_report"]


outcomes_app = command_group(
    help="Outcomes: what really happened after decisions.", no_args_is_help=True
)
export_app = command_group(help="Export what doorstep recorded.", no_args_is_help=True)

SpecOption = Annotated[
    Path, typer.Option("--spec", "-s", help="The app's doorstep.yaml.", dir_okay=False)
]
TimeOption = Annotated[
    str | None, typer.Option(help="ISO 8601 time, e.g. 2025-03-01 or 2025-03-01T12:00:00Z.")
]


@outcomes_app.callback()
def _outcomes() -> None:
    """Outcomes: what really happened after decisions."""


@export_app.callback()
def _export() -> None:
    """Export what doorstep recorded."""


def _time(value: str | None, name: str) -> datetime | None:
    if value is None:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise InputError(
            f"--{name} must be an ISO 8601 time such as 2025-03-01T12:00:00Z. Got {value!r} "
            "instead."
        ) from None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment


@outcomes_app.command("import")
def outcomes_import(
    source: Annotated[Path, typer.Argument(help="Outcomes: .csv, .parquet or .jsonl.")],
    spec: SpecOption,
    input_format: Annotated[
        str | None, typer.Option("--format", help="Input format if the suffix does not say.")
    ] = None,
    rejects: Annotated[
        Path | None,
        typer.Option(help="Refused rows (default: SOURCE's name + .rejects.csv, if any)."),
    ] = None,
    chunk_rows: Annotated[int, typer.Option(min=1, help="Rows per store transaction.")] = 5_000,
    db: DbOption = None,
) -> None:
    """Record what really happened, keyed by decision id or entity id; importing again records
    nothing twice. Outcomes that match no decision are kept and counted by reason."""
    from doorstep.services.apps.loading import read_spec
    from doorstep.services.outcomes.ingest import import_outcomes

    doc = read_spec(spec)
    with _open(db) as store:
        summary = import_outcomes(
            doc.spec,
            store,
            source,
            actor=_actor(),
            input_format=input_format,
            rejects=rejects,
            chunk_rows=chunk_rows,
        )
    recorded = summary.recorded
    console.print(
        f"[bold]{summary.rows}[/] rows of {source.name} for app [bold]{summary.app}[/]: "
        f"{recorded.recorded} recorded ({recorded.matched} matched to a decision), "
        f"{recorded.duplicates} already recorded, {summary.refused} refused "
        f"({summary.seconds:.1f} s)",
        highlight=False,
        soft_wrap=True,
    )
    if recorded.unmatched:
        from doorstep.store.feedback import UNMATCHED_REASONS

        for reason, count in sorted(recorded.unmatched.items()):
            console.print(f"  {count} unmatched: {UNMATCHED_REASONS[reason]} ({reason})")
    for error in summary.first_errors[:10]:
        errors.print(
            f"row {error['record']} {error['field'] or ''} ({error['rule']}): {error['message']}",
            highlight=False,
            soft_wrap=True,
        )
    if summary.rejects is not None:
        errors.print(f"Every refused row is in {summary.rejects}.", highlight=False)


def monitor(
    spec: SpecOption,
    window: Annotated[
        str | None, typer.Option(help="hour, day or week (default: the spec's).")
    ] = None,
    since: TimeOption = None,
    until: TimeOption = None,
    periods: Annotated[
        int | None, typer.Option(min=1, help="Windows to report when --since is not given.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
    drift: Annotated[
        bool,
        typer.Option(
            "--drift/--no-drift",
            help="Compare each window with the spec's reference data (loads the model once).",
        ),
    ] = True,
    alert: Annotated[
        bool,
        typer.Option(
            "--alert",
            help="Judge the latest window against monitoring.alerts, raise and resolve alerts "
            "(audited), and exit 3 when the worst subject is at warn, 4 at alert.",
        ),
    ] = False,
    deliver: Annotated[
        bool,
        typer.Option(
            help="With --alert: send the app's due deliveries, alerts included, before "
            "exiting (--no-deliver: leave them to serve or doorstep worker).",
        ),
    ] = True,
    public_url: Annotated[
        str | None,
        typer.Option(
            help="Base URL of the server: alerts link the app's dashboard under it.",
            envvar="DOORSTEP_PUBLIC_URL",
        ),
    ] = None,
    nice: Annotated[
        int,
        typer.Option(
            min=0,
            max=19,
            help="Lower this run's CPU priority by this much, so a server on the same machine "
            "keeps its latency while the report is computed (0: unchanged).",
        ),
    ] = 10,
    threads: Annotated[
        int | None,
        typer.Option(
            min=1,
            help="Threads for polars and the model's OpenMP pool (default: one per core); "
            "1 leaves the other cores to a server on the same machine.",
        ),
    ] = None,
    db: DbOption = None,
) -> None:
    """Live quality per window, human overrides, ROI against the control group, and drift;
    with --alert, raise and resolve alerts through the spec's connectors."""
    if nice and hasattr(os, "nice"):
        os.nice(nice)
    if threads is not None:  # before polars and the model load: they size their pools then
        from doorstep.runtime.niced import THREAD_VARIABLES

        os.environ.update({name: str(threads) for name in THREAD_VARIABLES})
    from doorstep.services.apps.loading import load_app, read_spec
    from doorstep.services.monitor.drift import ProfileCache, drift_thresholds
    from doorstep.services.monitor.report import monitoring_report

    if alert:
        code = _monitor_alerts(
            spec, drift=drift, deliver=deliver, public_url=public_url, as_json=as_json, db=db
        )
        raise typer.Exit(code=code)
    doc = read_spec(spec)
    profile = None
    if drift and doc.spec.reference is not None:
        profile = ProfileCache(Path(".doorstep") / "profiles").get(load_app(spec))
    with _open(db) as store:
        report = monitoring_report(
            doc.spec,
            store,
            window=window,
            since=_time(since, "since"),
            until=_time(until, "until"),
            periods=periods,
            profile=profile,
            thresholds=drift_thresholds(doc.spec),
        )
    if as_json:
        typer.echo(json.dumps(report, indent=2))
        return
    render_report(report)


def _monitor_alerts(
    spec: Path,
    *,
    drift: bool,
    deliver: bool,
    public_url: str | None,
    as_json: bool,
    db: str | None,
) -> int:
    from doorstep.services.apps.loading import load_app, read_spec
    from doorstep.services.deliver.connectors import open_app_connectors
    from doorstep.services.deliver.dispatcher import Dispatcher
    from doorstep.services.monitor.alerts import run_monitor
    from doorstep.services.monitor.drift import ProfileCache

    doc = read_spec(spec)
    if doc.spec.monitoring.alerts is None:
        raise InputError(
            f"{spec} has no monitoring.alerts: say which connectors receive alerts "
            "(see docs/monitoring.md, Alerts)."
        )
    loaded = load_app(spec) if drift and doc.spec.reference is not None else None
    profile = ProfileCache(Path(".doorstep") / "profiles").get(loaded) if loaded else None
    with _open(db) as store:
        result = run_monitor(
            doc.spec,
            store,
            profile=profile,
            actor=_actor(),
            public_url=public_url,
            root=spec.resolve().parent,
        )
        sent = []
        if deliver and any(t.messages for t in result.transitions):
            from doorstep.services.deliver.connectors import SpecFile

            connectors = open_app_connectors(SpecFile(doc, spec.resolve().parent))
            with Dispatcher(store, [connectors], public_url=public_url) as dispatcher:
                sent = dispatcher.drain()
    if as_json:
        typer.echo(json.dumps(result.as_dict(), indent=2))
        return result.exit_code
    render_alerts(result.as_dict())
    if sent:
        delivered = sum(1 for r in sent if r.state == "delivered")
        console.print(f"Sent {delivered} of {len(sent)} deliveries due for {result.app}.")
    return result.exit_code


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


def _interval(item: dict[str, Any] | None, scale: float = 1.0, digits: int = 3) -> str:
    if not item or item.get("value") is None:
        return "—"
    text = f"{item['value'] * scale:.{digits}f}"
    if item.get("low") is not None and item.get("high") is not None:
        text += f" [{item['low'] * scale:.{digits}f}, {item['high'] * scale:.{digits}f}]"
    return text


def render_report(report: dict[str, Any], out: Console | None = None) -> None:
    """The monitoring report for people: counts, a quality table (95% intervals on the whole
    range), reviews, ROI and its conclusion in a sentence."""
    out = out or console
    counts = report["counts"]
    out.print(
        f"[bold]{report['app']}[/]: decisions from {report['since'][:16]} to "
        f"{report['until'][:16]} ({report['window']} windows): {counts['decisions']} decisions, "
        f"{counts['labelled']} with an outcome",
        highlight=False,
        soft_wrap=True,
    )
    unmatched = counts["unmatched_outcomes"]
    if unmatched:
        out.print(f"  unmatched outcomes: {unmatched}", highlight=False)
    total = report["quality"]["total"]
    metrics = [
        k for k in ("auc", "precision", "recall", "brier", "accuracy", "mae", "rmse") if k in total
    ]
    table = Table(title="Live quality (all: with 95% intervals)", title_justify="left")
    table.add_column("window")
    table.add_column("labelled", justify="right")
    for name in metrics:
        table.add_column(name)
    width = 13 if report["window"] == "hour" else 10
    for entry in report["quality"]["windows"]:
        if entry["labelled"]:
            label = entry["start"][:width] + ("" if entry["enough"] else " (few)")
            values = [_interval({"value": entry[m]["value"]}) for m in metrics]
            table.add_row(label, str(entry["labelled"]), *values)
    label = "[bold]all[/]" + ("" if total["enough"] else " (few)")
    table.add_row(label, str(total["labelled"]), *(_interval(total[m]) for m in metrics))
    out.print(table)
    overrides = report["overrides"]
    if overrides["reviewed"] or overrides["pending_review"]:
        line = f"Reviews: {overrides['pending_review']} pending, {overrides['reviewed']} verdicts"
        if overrides["reviewed"]:
            line += (
                f", {overrides['overridden']} overrides "
                f"({_interval(overrides['override_rate'], 100, 1)} %)"
            )
        if overrides.get("judged"):
            line += (
                f"; overrides right {overrides['right']} of {overrides['judged']} "
                f"({_interval(overrides['right_rate'], 100, 1)} %)"
            )
        out.print(line, highlight=False, soft_wrap=True)
    roi = report["roi"]
    if "uplift" in roi:
        scale, unit = (100, " points") if roi.get("outcome") == "label" else (1, "")
        out.print(
            f"ROI: uplift {_interval(roi['uplift'], scale, 1)}{unit}, value "
            f"{_interval(roi['value'], 1, 0)} "
            f"(treated {roi['treated']['outcomes']}, control {roi['control']['outcomes']} "
            "outcomes)",
            highlight=False,
            soft_wrap=True,
        )
    out.print(f"[bold]{roi['conclusion']}[/]: {roi['message']}", highlight=False, soft_wrap=True)
    if report.get("drift"):
        from doorstep.cli.drift_render import render_drift

        render_drift(report["drift"], out, window=report["window"])


@export_app.command("training-data")
def export_training_data(
    spec: SpecOption,
    out: Annotated[
        Path, typer.Option("--out", "-o", help="File to write: .parquet, .csv, .jsonl.")
    ],
    since: TimeOption = None,
    until: TimeOption = None,
    labelled_only: Annotated[
        bool, typer.Option("--labelled-only", help="Only decisions whose outcome is known.")
    ] = False,
    include_pii: Annotated[
        bool, typer.Option("--include-pii", help="Also write inputs marked pii: true.")
    ] = False,
    output_format: Annotated[
        str | None, typer.Option("--format", help="Output format if the suffix does not say.")
    ] = None,
    db: DbOption = None,
) -> None:
    """Write decisions with their inputs, scores, actions, reviews and outcomes, oldest first,
    for the next training run (streamed: memory stays flat)."""
    from doorstep.services.apps.loading import read_spec
    from doorstep.services.outcomes.training import export_training_data as export

    doc = read_spec(spec)
    with _open(db) as store:
        summary = export(
            doc.spec,
            store,
            out,
            since=_time(since, "since"),
            until=_time(until, "until"),
            labelled_only=labelled_only,
            include_pii=include_pii,
            output_format=output_format,
        )
    console.print(
        f"Wrote {summary.rows} decisions ({summary.labelled} with an outcome, "
        f"{summary.columns} columns) to [bold]{summary.path}[/] in {summary.seconds:.1f} s",
        highlight=False,
        soft_wrap=True,
    )
