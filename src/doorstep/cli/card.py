"""``doorstep card``: an app's model card as one self-contained HTML page or Markdown, from
the spec, the reference data and what the store recorded (:mod:`doorstep.services.governance.
card_file`). See docs/card.md."""

from __future__ import annotations

from functools import partial
from pathlib import Path
from typing import Annotated

import typer

from doorstep.cli import card_render
from doorstep.cli.options import (
    AppSpecArgument,
    DbOption,
    SinceOption,
    SpecOrAppOption,
    UntilOption,
    app_spec,
    open_db,
    parse_time,
    profiles_for,
)

__all__ = ["card"]


def card(
    app: AppSpecArgument = None,
    spec: SpecOrAppOption = None,
    out: Annotated[
        Path, typer.Option("--out", "-o", help="File to write (.html or .md).", dir_okay=False)
    ] = Path("model-card.html"),
    output_format: Annotated[
        str | None, typer.Option("--format", help="html or md (default: from --out's suffix).")
    ] = None,
    since: SinceOption = None,
    until: UntilOption = None,
    db: DbOption = None,
) -> None:
    """Write the model card: purpose, owner, inputs, reference data and offline quality, what
    drives the score, live quality, ROI and drift, fairness, versions and their audit events,
    and a page per registered version."""
    from doorstep.services.governance.card_file import write_card

    with card_render.steps() as stage:
        done = write_card(
            app_spec(app, spec), partial(open_db, db), out, output_format=output_format,
            profiles=profiles_for(db), since=parse_time(since, "since"),
            until=parse_time(until, "until"), on_stage=stage,
        )  # fmt: skip
    card_render.written(done)
