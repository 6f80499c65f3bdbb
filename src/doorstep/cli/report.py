"""``doorstep report``: the monitoring report as one self-contained HTML file (the same report
object as ``doorstep monitor --json`` and ``GET /v1/apps/{app}/monitoring``, rendered by the
template of the ``/apps/{app}/report`` page). See docs/monitoring.md ("The HTML report")."""

from __future__ import annotations

from functools import partial
from pathlib import Path
from typing import Annotated

import typer

from doorstep.cli import monitor_render
from doorstep.cli.options import (
    DbOption,
    DriftOption,
    PeriodsOption,
    SinceOption,
    SpecOption,
    UntilOption,
    WindowOption,
    open_db,
    parse_time,
    profiles_for,
)

__all__ = ["report"]


def report(
    spec: SpecOption,
    out: Annotated[
        Path, typer.Option("--out", "-o", help="HTML file to write.", dir_okay=False)
    ] = Path("report.html"),
    window: WindowOption = None,
    since: SinceOption = None,
    until: UntilOption = None,
    periods: PeriodsOption = None,
    drift: DriftOption = True,
    db: DbOption = None,
) -> None:
    """Write the monitoring report as one HTML file that opens offline: quality over time,
    calibration, overrides, ROI with its interval, drift per feature and data quality."""
    from doorstep.services.monitor.on_demand import ReportRequest, write_report

    since_time, until_time = parse_time(since, "since"), parse_time(until, "until")
    request = ReportRequest(spec, window, since_time, until_time, periods, drift, profiles_for(db))
    with monitor_render.report_steps() as stage:
        done = write_report(request, partial(open_db, db), out, on_stage=stage)
    monitor_render.written(done)
