"""The demo's feedback step: outcomes for the decided customers, drawn from the example's true
model with a known uplift, imported like any outcome file, then the monitoring report."""

from __future__ import annotations

from pathlib import Path

from rich.console import Console

from doorstep.services.app import LoadedApp

__all__ = ["show_feedback"]


def show_feedback(
    console: Console, app: LoadedApp, directory: Path, *, db: str | None = None
) -> None:
    from doorstep.cli.outcomes import render_report
    from doorstep.examples.churn.outcomes import RETENTION_EFFECT
    from doorstep.services.example_outcomes import write_demo_outcomes
    from doorstep.services.monitoring import monitoring_report
    from doorstep.services.outcomes import import_outcomes
    from doorstep.store import open_store

    path = directory / "outcomes.csv"
    with open_store(db) as store:
        made = write_demo_outcomes(app.name, store, directory / "customers.parquet", path)
        summary = import_outcomes(app.spec, store, path, actor="doorstep demo")
        report = monitoring_report(app.spec, store)
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
        "The same report: `doorstep monitor --spec "
        f"{directory / 'doorstep.yaml'}` or GET /v1/apps/{app.name}/monitoring.\n",
        highlight=False,
        soft_wrap=True,
    )
