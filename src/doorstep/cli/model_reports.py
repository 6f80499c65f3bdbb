"""``doorstep models backtest`` and ``doorstep models compare``: what a candidate model would
change on stored decisions, and champion against challenger on live outcomes
(:mod:`doorstep.services.rollout`), rendered by :mod:`.model_reports_render`."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Literal

import typer

from doorstep.cli import model_reports_render as render
from doorstep.cli.console import console
from doorstep.cli.models import models_app
from doorstep.cli.options import (
    DbOption,
    PeriodsOption,
    SinceOption,
    UntilOption,
    WindowOption,
    open_db,
    parse_time,
    spec_path,
)
from doorstep.errors import InputError

__all__ = ["backtest", "compare", "spec_path"]

AppArgument = Annotated[
    Path,
    typer.Argument(
        help="The app: its name (its spec found in the working directory or its folders), "
        "its doorstep.yaml, or the folder holding it.",
        show_default=False,
    ),
]
DaysOption = Annotated[
    int | None,
    typer.Option(min=1, help="The last N days (instead of --since/--until; default 30)."),
]


class CompareMode(StrEnum):
    """What of the challenger ``models compare`` reads."""

    shadow = "shadow"
    canary = "canary"


MODES: dict[CompareMode, Literal["shadow", "canary"]] = {
    CompareMode.shadow: "shadow",
    CompareMode.canary: "canary",
}

JsonOption = Annotated[bool, typer.Option("--json", help="Print the result as JSON.")]


def time_range(
    since: str | None, until: str | None, days: int | None, *, default_days: int = 30
) -> tuple[datetime | None, datetime | None]:
    """``--since``/``--until``, or the last ``--days`` (default ``default_days``) up to now."""
    if days is not None and (since is not None or until is not None):
        raise InputError("Give --days or --since/--until, not both.")
    start, end = parse_time(since, "since"), parse_time(until, "until")
    if start is None and end is None:
        end = datetime.now(UTC)
        start = end - timedelta(days=days or default_days)
    return start, end


@models_app.command("backtest")
def backtest(
    app: AppArgument,
    version: Annotated[
        str,
        typer.Option(help="The candidate: a registered version, or the name --model goes by."),
    ],
    model: Annotated[
        Path | None,
        typer.Option(help="A model file (or MLflow folder) not registered: the candidate."),
    ] = None,
    since: SinceOption = None,
    until: UntilOption = None,
    days: DaysOption = None,
    sample: Annotated[
        int, typer.Option(min=0, max=1000, help="Flipping decisions listed, with reasons.")
    ] = 20,
    as_json: JsonOption = False,
    db: DbOption = None,
) -> None:
    """Replay stored decisions through a candidate model: the decisions that flip action, the
    review load and control group, and quality and expected value on those with outcomes."""
    from doorstep.services.apps.loading import load_app, with_model
    from doorstep.services.rollout.backtest import backtest as run_backtest
    from doorstep.services.rollout.serving import registered_version, staged_app

    start, end = time_range(since, until, days)
    spec_app = load_app(spec_path(app))
    with open_db(db) as store, render.replay_bar(console, quiet=as_json) as bar:
        champion = replace(staged_app(spec_app, store), canary=None, shadow=None)
        candidate = (
            registered_version(spec_app, store, version)
            if model is None
            else with_model(spec_app, model, version=version)
        )
        found = run_backtest(
            champion, candidate, store, since=start, until=end, sample=sample,
            on_total=bar.total, progress=bar.advance,
        )  # fmt: skip
    render.backtest(found, as_json=as_json)


@models_app.command("compare")
def compare(
    app: AppArgument,
    challenger: Annotated[
        str | None,
        typer.Option(help="The challenger version (default: the busiest other version)."),
    ] = None,
    champion: Annotated[
        str | None,
        typer.Option(
            help="The champion version (default: the champion the store's stages name, else "
            "the spec's model)."
        ),
    ] = None,
    window: WindowOption = None,
    since: SinceOption = None,
    until: UntilOption = None,
    periods: PeriodsOption = None,
    mode: Annotated[
        CompareMode | None,
        typer.Option(
            help="Compare the challenger's shadow rows or only its own (canary) decisions "
            "(default: its shadow rows when it has any in the range).",
            show_default=False,
        ),
    ] = None,
    as_json: JsonOption = False,
    db: DbOption = None,
) -> None:
    """Champion against challenger (a canary or a shadow) on live outcomes: quality per window
    with intervals, ROI per version, override rates, the difference and a verdict."""
    from doorstep.services.apps.loading import load_app
    from doorstep.services.rollout.compare import compare_versions
    from doorstep.services.rollout.stages import champion_version

    loaded = load_app(spec_path(app))
    with open_db(db) as store:
        if champion is None:  # after a promotion or a rollback: not the spec's model
            champion = champion_version(store, loaded.name) or loaded.model_version
        found = compare_versions(
            loaded.spec, store, champion=champion, challenger=challenger,
            window=window, since=parse_time(since, "since"), until=parse_time(until, "until"),
            periods=periods, mode=None if mode is None else MODES[mode],
        )  # fmt: skip
    render.comparison(found, as_json=as_json)
