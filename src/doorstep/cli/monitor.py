"""``doorstep monitor``: an app's monitoring report, or one alert run (``--alert``), computed by
:mod:`doorstep.services.monitor.on_demand` in a child process at a lower priority (``--nice``,
``--threads``: :mod:`doorstep.runtime.niced`) and rendered here. See docs/monitoring.md."""

from __future__ import annotations

from functools import partial
from typing import Annotated

import typer

from doorstep.cli import monitor_render
from doorstep.cli.options import (
    DbOption,
    DriftOption,
    PeriodsOption,
    PublicUrlOption,
    SinceOption,
    SpecOption,
    UntilOption,
    WindowOption,
    actor,
    open_db,
    parse_time,
    profiles_for,
)
from doorstep.runtime.niced import niced
from doorstep.services.monitor.on_demand import (
    AlertRequest,
    ReportRequest,
    alert_app,
    monitor_app,
)

__all__ = ["monitor"]

AlertOption = Annotated[
    bool,
    typer.Option(
        "--alert",
        help="Judge the latest window against monitoring.alerts, raise and resolve alerts "
        "(audited), and exit 3 when the worst subject is at warn, 4 at alert. With --since, "
        "--until, --window or --periods: replay that range dry, printing per window what "
        "would have alerted (nothing recorded or sent).",
    ),
]
DeliverOption = Annotated[
    bool,
    typer.Option(
        help="With --alert: send the app's due deliveries, alerts included, before "
        "exiting (--no-deliver: leave them to serve or doorstep worker).",
    ),
]
NiceOption = Annotated[
    int,
    typer.Option(
        min=0,
        max=19,
        help="Compute in a child process this much lower in CPU priority, so a server on the "
        "same machine keeps its latency; the command's own process keeps its priority "
        "(0: compute at the command's priority).",
    ),
]
ThreadsOption = Annotated[
    int | None,
    typer.Option(
        min=1,
        help="Threads for polars and the model's OpenMP pool (default: one per core); "
        "1 leaves the other cores to a server on the same machine.",
    ),
]


def monitor(
    spec: SpecOption,
    window: WindowOption = None,
    since: SinceOption = None,
    until: UntilOption = None,
    periods: PeriodsOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
    drift: DriftOption = True,
    alert: AlertOption = False,
    deliver: DeliverOption = True,
    public_url: PublicUrlOption = None,
    nice: NiceOption = 10,
    threads: ThreadsOption = None,
    db: DbOption = None,
) -> None:
    """Live quality per window, human overrides, ROI against the control group, and drift;
    with --alert, raise and resolve alerts through the spec's connectors."""
    store = partial(open_db, db)
    since_time, until_time = parse_time(since, "since"), parse_time(until, "until")
    if alert:
        request = AlertRequest(
            spec, drift=drift, deliver=deliver, public_url=public_url, actor=actor(),
            profiles=profiles_for(db), window=window, since=since_time, until=until_time,
            periods=periods,
        )  # fmt: skip
        run = niced(alert_app, nice=nice, threads=threads)(request, store)
        monitor_render.alert_run(run, as_json=as_json)
        raise typer.Exit(code=run.exit_code)
    report = niced(monitor_app, nice=nice, threads=threads)(
        ReportRequest(spec, window, since_time, until_time, periods, drift, profiles_for(db)),
        store,
    )
    monitor_render.report(report, as_json=as_json)
