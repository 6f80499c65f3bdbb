"""``doorstep fairness``: how an app's stored decisions and outcomes compare across the groups
of its sensitive attributes, computed by :mod:`doorstep.services.monitor.fairness` and shown by
:mod:`doorstep.cli.fairness_render`. See docs/fairness.md."""

from __future__ import annotations

from typing import Annotated

import typer

from doorstep.cli import fairness_render
from doorstep.cli.options import (
    AppSpecArgument,
    DbOption,
    SinceOption,
    SpecOrAppOption,
    UntilOption,
    app_spec,
    open_db,
    parse_time,
)

__all__ = ["fairness"]


def fairness(
    app: AppSpecArgument = None,
    spec: SpecOrAppOption = None,
    by: Annotated[
        list[str] | None,
        typer.Option(
            "--by",
            help="A sensitive input or a band of monitoring.fairness.bands (repeatable; "
            "default: every band and every sensitive input without one).",
        ),
    ] = None,
    since: SinceOption = None,
    until: UntilOption = None,
    version: Annotated[
        str | None, typer.Option(help="Only the decisions of this model version.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
    db: DbOption = None,
) -> None:
    """Selection rates, demographic parity, equalized odds and calibration per group of the
    spec's sensitive attributes, with 95% intervals; groups below min_group say "too few"."""
    from doorstep.services.apps.loading import read_spec
    from doorstep.services.monitor.fairness import fairness_report

    doc = read_spec(app_spec(app, spec))
    with fairness_render.reading() as on_rows, open_db(db) as store:
        report = fairness_report(
            doc.spec,
            store,
            by=by or (),
            since=parse_time(since, "since"),
            until=parse_time(until, "until"),
            version=version,
            on_rows=on_rows,
        )
    fairness_render.report(report, as_json=as_json)
