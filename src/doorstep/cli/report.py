"""``doorstep report``: the monitoring report as one self-contained HTML file (the same report
object as ``doorstep monitor --json`` and ``GET /v1/apps/{app}/monitoring``, rendered by the
template of the ``/apps/{app}/report`` page). See docs/monitoring.md ("The HTML report")."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from doorstep.cli.console import console
from doorstep.cli.outcomes import SpecOption, TimeOption, _time
from doorstep.cli.store import DbOption, _open
from doorstep.errors import InputError

__all__ = ["report"]


def _progress() -> Progress:
    return Progress(
        SpinnerColumn(),
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total} steps"),
        TimeElapsedColumn(),
        console=console,
        transient=True,
    )


def report(
    spec: SpecOption,
    out: Annotated[
        Path, typer.Option("--out", "-o", help="HTML file to write.", dir_okay=False)
    ] = Path("report.html"),
    window: Annotated[
        str | None, typer.Option(help="hour, day or week (default: the spec's).")
    ] = None,
    since: TimeOption = None,
    until: TimeOption = None,
    periods: Annotated[
        int | None, typer.Option(min=1, help="Windows to report when --since is not given.")
    ] = None,
    drift: Annotated[
        bool,
        typer.Option(
            "--drift/--no-drift",
            help="Compare each window with the spec's reference data (loads the model once).",
        ),
    ] = True,
    db: DbOption = None,
) -> None:
    """Write the monitoring report as one HTML file that opens offline: quality over time,
    calibration, overrides, ROI with its interval, drift per feature and data quality."""
    from doorstep.services.apps.loading import load_app, read_spec
    from doorstep.services.monitor.drift import ProfileCache, drift_thresholds
    from doorstep.services.monitor.report import monitoring_report
    from doorstep.services.monitor.report_html import render_report_html

    try:
        if out.suffix.lower() not in (".html", ".htm"):
            raise InputError(f"--out must name an .html file. Got {str(out)!r} instead.")
        doc = read_spec(spec)
        steps = 3 if drift and doc.spec.reference is not None else 2
        with _progress() as bar:
            task = bar.add_task("Reading the spec", total=steps)
            profile = None
            if steps == 3:
                bar.update(task, description="Profiling the reference data (once per model)")
                profile = ProfileCache(Path(".doorstep") / "profiles").get(load_app(spec))
                bar.advance(task)
            bar.update(task, description="Measuring quality, overrides, ROI and drift")
            with _open(db) as store:
                found = monitoring_report(
                    doc.spec,
                    store,
                    window=window,
                    since=_time(since, "since"),
                    until=_time(until, "until"),
                    periods=periods,
                    profile=profile,
                    thresholds=drift_thresholds(doc.spec),
                )
            bar.advance(task)
            bar.update(task, description="Rendering the HTML")
            html = render_report_html(found, owner=doc.spec.app.owner)
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_text(html, encoding="utf-8")
            bar.advance(task)
    except OSError as exc:
        raise InputError(f"Could not write {out}: {exc.strerror or exc}.") from None
    console.print(_summary(found, out, len(html.encode())), highlight=False, soft_wrap=True)


def _summary(found: dict[str, Any], out: Path, size: int) -> str:
    counts = found["counts"]
    drift = found["drift"]
    return (
        f"Wrote [bold]{out}[/] ({size / 1024:.0f} KB, loads nothing): app {found['app']}, "
        f"{len(found['quality']['windows'])} {found['window']} windows, "
        f"{counts['decisions']} decisions, {counts['labelled']} with an outcome; "
        f"ROI {found['roi']['conclusion']}; drift {drift['status'] if drift else 'not measured'}."
    )
