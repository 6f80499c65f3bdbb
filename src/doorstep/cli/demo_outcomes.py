"""The demo's feedback step: outcomes for the decided customers, drawn from the example's true
model with a known uplift, imported like any outcome file, then the monitoring report (quality,
ROI and drift against the reference data), printed and written as ``report.html``."""

from __future__ import annotations

from pathlib import Path

from rich.console import Console

from doorstep.services.apps.loading import LoadedApp
from doorstep.store.home import DEFAULT_HOME

__all__ = ["show_feedback"]


def show_feedback(
    console: Console,
    app: LoadedApp,
    directory: Path,
    *,
    db: str | None = None,
    home: Path = DEFAULT_HOME,
) -> Path:
    """Import the demo's outcomes, print the monitoring report and write it as
    ``DIRECTORY/report.html``; returns that path. ``home``: where reference profiles are kept
    (``serve``'s home, so the server reuses them)."""
    from doorstep.cli.monitor_render import render_report
    from doorstep.examples.churn.outcomes import RETENTION_EFFECT
    from doorstep.services.monitor.drift import ProfileCache, drift_thresholds
    from doorstep.services.monitor.report import monitoring_report
    from doorstep.services.monitor.report_html import render_report_html
    from doorstep.services.outcomes.example import write_demo_outcomes
    from doorstep.services.outcomes.ingest import import_outcomes
    from doorstep.store import open_store

    path = directory / "outcomes.csv"
    profile = ProfileCache(home / "profiles").get(app)
    with open_store(db) as store:
        made = write_demo_outcomes(app.name, store, directory / "customers.parquet", path)
        summary = import_outcomes(app.spec, store, path, actor="doorstep demo")
        report = monitoring_report(
            app.spec, store, profile=profile, thresholds=drift_thresholds(app.spec)
        )
    html = directory / "report.html"
    html.write_text(render_report_html(report, owner=app.spec.app.owner), encoding="utf-8")
    console.print(
        f"\n[bold]Outcomes[/]: {made.rows} customers' churn drawn from the example's true model, "
        f"where an action keeps {RETENTION_EFFECT:.0%} of the customers who would have left "
        f"(here a true uplift of {made.true_uplift * 100:.1f} points), written to {path} and "
        f"imported ({summary.recorded.recorded} new, {summary.recorded.duplicates} known).",
        highlight=False,
        soft_wrap=True,
    )
    render_report(report, console)
    console.print(
        f"The same report as one HTML file with charts, which opens offline: [bold]{html}[/] "
        f"(again: `doorstep report --spec {directory / 'doorstep.yaml'} --out {html}`). "
        f"As JSON: `doorstep monitor --spec {directory / 'doorstep.yaml'} --json` or GET "
        f"/v1/apps/{app.name}/monitoring; in the browser: /apps/{app.name}/report.\n",
        highlight=False,
        soft_wrap=True,
    )
    return html
